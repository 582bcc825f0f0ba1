package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/store"
)

// TestSecondRemoteReplayIsNoTakeOver: a hostile second remote hides an old
// live delta and lists a copy it kept of another device's delta that
// prune deleted, one older than anything this device wrote. That is no
// commit after this device's: its backups go on.
func TestSecondRemoteReplayIsNoTakeOver(t *testing.T) {
	e := storetest.NewEnv(t) // e.Store is device B, the old device
	secondDir := t.TempDir()
	second := storetest.OpenRemote(t, secondDir)
	e.Store.SetTargets([]*store.Target{store.NewTarget("first", e.Remote), store.NewTarget("second", second)})
	storetest.WriteFile(t, filepath.Join(e.Src, "big.bin"), storetest.RandBytes(1, 2<<20))
	e.Backup() // seq 1, kept by prune (its data stays used)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), storetest.RandBytes(2, 300<<10))
	e.Backup() // seq 2, all dead once a.txt changes: prune deletes it
	p2 := deltaOf(t, secondDir, 2)
	kept, err := os.ReadFile(p2) // the cloud keeps a copy
	if err != nil {
		t.Fatal(err)
	}

	// Device A joins on the first remote and writes from now on.
	a, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: t.TempDir(), DeviceID: [16]byte{0xa}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.SetTargets([]*store.Target{store.NewTarget("first", e.Remote), store.NewTarget("second", second)})
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), storetest.RandBytes(3, 300<<10))
	if _, err := backup.Run(e.Ctx, a, backup.Options{Source: e.Src}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := prune.Run(e.Ctx, a, prune.Options{Policy: prune.Policy{KeepLast: 1}, SmallDelta: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p2); !os.IsNotExist(err) {
		t.Fatalf("prune left B's seq 2 on the second remote: %v", err)
	}
	p1 := deltaOf(t, secondDir, 1)
	if _, err := os.Stat(filepath.Join(e.RemoteDir, "deltas", filepath.Base(p1))); err != nil {
		t.Fatalf("seq 1 not live on the first remote: %v", err)
	}

	// The hostile second remote: hides seq 1, lists its copy of seq 2.
	if err := os.Remove(p1); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p2, kept, 0o600); err != nil {
		t.Fatal(err)
	}
	// A later process (fresh targets: listed once more).
	a.SetTargets([]*store.Target{store.NewTarget("first", e.Remote), store.NewTarget("second", second)})
	_, serr := a.Sync(e.Ctx)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), storetest.RandBytes(4, 300<<10))
	_, berr := backup.Run(e.Ctx, a, backup.Options{Source: e.Src})
	if errors.Is(serr, store.ErrTakenOver) || errors.Is(berr, store.ErrTakenOver) || a.TakenOver() != nil {
		t.Fatalf("a second remote replaying a pruned delta of another device stopped A as taken over: sync %v, backup %v", serr, berr)
	}
	if berr != nil {
		t.Fatalf("A's next backup: %v", berr)
	}
	if _, err := a.Sync(e.Ctx); err != nil {
		t.Fatalf("A's next sync: %v", err)
	}
	if _, err := os.Stat(p1); err != nil {
		t.Errorf("the sync did not put the hidden live delta back on the second remote: %v", err)
	}
}
