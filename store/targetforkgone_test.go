package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// listThen is a real remote that runs then after each listing.
type listThen struct {
	remotes.Remote
	then func()
}

func (l listThen) List(ctx context.Context, dir string) ([]remotes.ObjectInfo, error) {
	objs, err := l.Remote.List(ctx, dir)
	l.then()
	return objs, err
}

// TestUploadOtherDeltaGoneWhileRead is TestUploadCutReadOfOtherDeviceDelta
// with B's delta on the second remote deleted after A listed it (B's
// prune compacting it away): before A's read of its trailer begins, or
// while it runs, cutting the download off. That is no damage anywhere
// (an integrity failure tells the user to run `chatsafe check`, and
// exits 6): A uploads nothing there this round and reports the remote to
// retry at the next sync, as for a cut read.
func TestUploadOtherDeltaGoneWhileRead(t *testing.T) {
	for _, whileRead := range []bool{false, true} {
		name := map[bool]string{false: "before the read", true: "while read"}[whileRead]
		t.Run(name, func(t *testing.T) {
			e := storetest.NewEnv(t)
			secondDir := t.TempDir()
			var gone atomic.Bool
			remove := func(name string) {
				if err := os.Remove(filepath.Join(secondDir, filepath.FromSlash(name))); err != nil {
					t.Error(err)
				}
			}
			var second remotes.Remote = remotes.Faulty(storetest.OpenRemote(t, secondDir), remotes.FaultOptions{
				CutDownload: func(name string) bool {
					if !whileRead || !gone.Load() || !strings.HasPrefix(name, "deltas/"+storeSeqPrefix(2)) {
						return false
					}
					// The download has begun: the delta is deleted, and
					// the connection drops.
					remove(name)
					return true
				},
			})
			second = listThen{Remote: second, then: func() {
				if whileRead || !gone.Load() {
					return
				}
				b, _ := filepath.Glob(filepath.Join(secondDir, "deltas", storeSeqPrefix(2)+"*"))
				for _, p := range b {
					rel, _ := filepath.Rel(secondDir, p)
					remove(filepath.ToSlash(rel))
				}
			}}
			e.Store.SetTargets([]*store.Target{store.NewTarget("first", e.Remote), store.NewTarget("second", second)})
			forkOnSecond(t, e, secondDir)

			gone.Store(true)
			_, err := e.Store.Sync(e.Ctx)
			wantUnreachable(t, err, "A's upload with B's delta deleted "+name)
			if two, _ := filepath.Glob(filepath.Join(secondDir, "deltas", storeSeqPrefix(2)+"*")); len(two) != 0 {
				t.Fatalf("deltas of sequence 2 on the second remote: %v, want none (B's deleted, A's not uploaded unchecked)", two)
			}
			if to := e.Store.TakenOver(); to != nil {
				t.Fatalf("A records a take-over from a read that never finished: %v", to)
			}
		})
	}
}
