package store_test

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// A delta must stay in the spool until every remote holds it: with two
// remotes, draining the spool after the first one loses the only copy the
// second could ever get (the spool is where the back-fill reads from until
// the second remote is reachable).
func TestSyncKeepsDeltaUntilEveryRemoteHasIt(t *testing.T) {
	e := newEnv(t)
	secondDir := t.TempDir()
	var down atomic.Bool
	down.Store(true)
	second := remotes.Faulty(openRemote(t, secondDir), remotes.FaultOptions{Down: down.Load})
	e.r.SetTargets([]*store.Target{store.NewTarget("first", e.remote), store.NewTarget("second", second)})
	writeFile(t, filepath.Join(e.src, "a.txt"), []byte("only copy"))
	if _, err := backup.Run(e.ctx, e.r, backup.Options{Source: e.src}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.r.Sync(e.ctx); err == nil {
		t.Fatal("sync succeeded though the second remote is down")
	}
	onFirst, onSecond := len(deltaFiles(t, e.remoteDir)), len(deltaFiles(t, secondDir))
	if onFirst != 1 {
		t.Fatalf("%d deltas on the first remote, want 1", onFirst)
	}
	if onSecond != 0 {
		t.Fatalf("%d deltas on the remote that is down", onSecond)
	}
	if len(e.r.Pending()) != 1 {
		t.Fatal("the delta left the spool though the second remote does not hold it")
	}

	// The second remote is back: it gets the config and the delta, and
	// only then does the delta leave the spool.
	down.Store(false)
	n, err := e.r.Sync(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || len(e.r.Pending()) != 0 || len(deltaFiles(t, secondDir)) != 1 {
		t.Fatalf("after the second remote is back: %d released, %d pending, %d on the second remote", n, len(e.r.Pending()), len(deltaFiles(t, secondDir)))
	}
	r2, err := store.Open(e.ctx, openRemote(t, secondDir), e.key, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := restore.Run(e.ctx, r2, restore.Options{Target: dst}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "a.txt")); string(b) != "only copy" {
		t.Fatalf("restored %q from the second remote", b)
	}
}
