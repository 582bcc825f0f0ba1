package store_test

import (
	"github.com/chatsafe/chatsafe/internal/storetest"
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
	e := storetest.NewEnv(t)
	secondDir := t.TempDir()
	var down atomic.Bool
	down.Store(true)
	second := remotes.Faulty(storetest.OpenRemote(t, secondDir), remotes.FaultOptions{Down: down.Load})
	e.Store.SetTargets([]*store.Target{store.NewTarget("first", e.Remote), store.NewTarget("second", second)})
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("only copy"))
	if _, err := backup.Run(e.Ctx, e.Store, backup.Options{Source: e.Src}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.Sync(e.Ctx); err == nil {
		t.Fatal("sync succeeded though the second remote is down")
	}
	onFirst, onSecond := len(storetest.DeltaFiles(t, e.RemoteDir)), len(storetest.DeltaFiles(t, secondDir))
	if onFirst != 1 {
		t.Fatalf("%d deltas on the first remote, want 1", onFirst)
	}
	if onSecond != 0 {
		t.Fatalf("%d deltas on the remote that is down", onSecond)
	}
	if len(e.Store.Pending()) != 1 {
		t.Fatal("the delta left the spool though the second remote does not hold it")
	}

	// The second remote is back: it gets the config and the delta, and
	// only then does the delta leave the spool.
	down.Store(false)
	n, err := e.Store.Sync(e.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || len(e.Store.Pending()) != 0 || len(storetest.DeltaFiles(t, secondDir)) != 1 {
		t.Fatalf("after the second remote is back: %d released, %d pending, %d on the second remote", n, len(e.Store.Pending()), len(storetest.DeltaFiles(t, secondDir)))
	}
	r2, err := store.Open(e.Ctx, storetest.OpenRemote(t, secondDir), e.Key, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := restore.Run(e.Ctx, r2, restore.Options{Target: dst}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "a.txt")); string(b) != "only copy" {
		t.Fatalf("restored %q from the second remote", b)
	}
}
