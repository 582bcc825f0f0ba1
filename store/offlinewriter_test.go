package store_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/store"
)

// syncDuring is a backup store whose nth call of Snapshots (1: as the
// backup starts, its writer open; 2: at its commit, the delta's .partial
// file open in the spool) starts a Sync on another goroutine, as the
// daemon's uploader would, and waits until that Sync either ends or waits
// for the backup at the fault point "offline:wait-writer".
type syncDuring struct {
	*store.Store
	t        *testing.T
	at, n    int
	waiting  chan struct{}
	syncDone chan error
}

func (s *syncDuring) Snapshots() []store.Snapshot {
	s.n++
	if s.n == s.at {
		go func() {
			_, err := s.Store.Sync(s.t.Context())
			s.syncDone <- err
		}()
		select {
		case <-s.waiting:
		case err := <-s.syncDone:
			s.syncDone <- err // for the test to read after the backup
		}
	}
	return s.Store.Snapshots()
}

// TestOfflineLoadWaitsForRunningBackup: a store opened from the state
// whose remote comes back while a backup runs. The uploader's sync must
// not load the remote's history under that backup (its blob index and
// head would change under the writer) nor remove the .partial file it is
// writing: it waits for the backup to end, and then finds the backup
// committed offline past another device's pruned history (taken over).
func TestOfflineLoadWaitsForRunningBackup(t *testing.T) {
	for _, at := range []int{1, 2} {
		t.Run(fmt.Sprintf("snapshots-call-%d", at), func(t *testing.T) {
			o := newOfflineRepo(t)
			// A device that joined and never wrote: the deferred load
			// continues the phone's history instead of stopping at once.
			r := o.openedFromState(t, true)
			other := o.phoneCommits(t, 2)
			if _, err := prune.Run(t.Context(), other, prune.Options{Policy: prune.Policy{KeepLast: 1}, SmallDelta: 1 << 40}); err != nil {
				t.Fatal(err)
			}
			other.Close()

			waiting := make(chan struct{})
			setHook(t, func(p string) error {
				if p == "offline:wait-writer" {
					close(waiting)
				}
				return nil
			})
			s := &syncDuring{Store: r, t: t, at: at, waiting: waiting, syncDone: make(chan error, 1)}
			o.change(t, 600)
			res, err := backup.Run(t.Context(), s, backup.Options{Source: o.src})
			if err != nil {
				t.Fatalf("a sync during the backup broke it: %v", err)
			}
			if res.Unchanged {
				t.Fatal("the backup committed nothing")
			}
			if err := <-s.syncDone; !errors.Is(err, store.ErrTakenOver) {
				t.Fatalf("sync after the offline backup: %v, want taken over", err)
			}
			for _, p := range spooled(t, o.state) {
				if strings.HasSuffix(p, ".partial") {
					t.Errorf("left in the spool: %s", filepath.Base(p))
				}
			}
			if st, ok := r.Offline(); !ok || st.Snapshots != 1 {
				t.Errorf("offline status %+v %v, want the backup's snapshot waiting", st, ok)
			}
		})
	}
}
