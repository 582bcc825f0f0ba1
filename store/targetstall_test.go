package store_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// stallRemote lists one delta name more than it holds, at a sequence far
// ahead, and answers a read of it only when the caller gives up.
type stallRemote struct {
	remotes.Remote
	reads *atomic.Int32
}

const stallName = "deltas/00000000000000ff-0123456789abcdef0123456789abcdef"

func (s stallRemote) List(ctx context.Context, dir string) ([]remotes.ObjectInfo, error) {
	objs, err := s.Remote.List(ctx, dir)
	return append(objs, remotes.ObjectInfo{Name: stallName, Size: 4096}), err
}

func (s stallRemote) Get(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	if strings.HasSuffix(name, stallName[len("deltas/"):]) {
		s.reads.Add(1)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return s.Remote.Get(ctx, name, off, n)
}

// TestStallingSecondRemoteDoesNotHoldCommit: a second remote that lists a
// delta but never answers its read holds a commit for the check's bound
// only, not for as long as the backup's context lasts, and is then left
// alone for the back-off, as one that cannot be listed is.
func TestStallingSecondRemoteDoesNotHoldCommit(t *testing.T) {
	defer store.SetOtherCheckTimeout(time.Second)()
	e := storetest.NewEnv(t)
	var reads atomic.Int32
	stall := stallRemote{storetest.OpenRemote(t, t.TempDir()), &reads}
	e.Store.SetTargets([]*store.Target{store.NewTarget("first", e.Remote), store.NewTarget("second", stall)})
	ctx, cancel := context.WithTimeout(e.Ctx, 20*time.Second)
	defer cancel()
	for i := range 2 {
		storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), storetest.RandBytes(uint64(i), 1000))
		if _, err := backup.Run(ctx, e.Store, backup.Options{Source: e.Src}); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("backup %d waited for the second remote's read until the backup's own deadline: %v", i+1, err)
			}
			t.Fatalf("backup %d: %v", i+1, err)
		}
	}
	if n := reads.Load(); n != 1 {
		t.Errorf("the second remote's stalled delta was read %d times before two commits, want 1 (then the back-off)", n)
	}
}
