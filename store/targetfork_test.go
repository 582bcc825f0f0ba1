package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// TestUploadRefusesForkOnSecondRemote: device A commits (its delta still
// in the spool), then device B, which joined on A's second remote only,
// commits the same sequence there. A's upload to that remote stops with
// "taken over" instead of putting a second delta of one sequence there.
func TestUploadRefusesForkOnSecondRemote(t *testing.T) {
	e := storetest.NewEnv(t)
	secondDir := t.TempDir()
	second := storetest.OpenRemote(t, secondDir)
	e.Store.SetTargets([]*store.Target{store.NewTarget("first", e.Remote), store.NewTarget("second", second)})
	forkOnSecond(t, e, secondDir)

	if _, err := e.Store.Sync(e.Ctx); !errors.Is(err, store.ErrTakenOver) {
		t.Fatalf("A's upload: %v, want taken over", err)
	}
	if two, _ := filepath.Glob(filepath.Join(secondDir, "deltas", storeSeqPrefix(2)+"*")); len(two) != 1 {
		t.Fatalf("deltas of sequence 2 on the second remote: %v", two)
	}
	if e.Store.TakenOver() == nil {
		t.Fatal("A does not record the take-over")
	}
	if _, err := backup.Run(e.Ctx, e.Store, backup.Options{Source: e.Src}); !errors.Is(err, store.ErrTakenOver) {
		t.Fatalf("A's next backup: %v, want taken over", err)
	}
}

// downRemote is a real remote that cannot be listed, as one out of reach
// (a NAS away from home); it counts the listings asked of it.
type downRemote struct {
	remotes.Remote
	lists atomic.Int64
}

func (d *downRemote) List(ctx context.Context, dir string) ([]remotes.ObjectInfo, error) {
	d.lists.Add(1)
	return nil, errors.New("simulated: no route to host")
}

// TestDownSecondRemoteListedOncePerBackoff: a remote other than the first
// that cannot be listed before a commit is not asked again before every
// commit (each ask may wait out a listing's timeout); it is skipped until
// its back-off ends.
func TestDownSecondRemoteListedOncePerBackoff(t *testing.T) {
	e := storetest.NewEnv(t)
	down := &downRemote{Remote: storetest.OpenRemote(t, t.TempDir())}
	e.Store.SetTargets([]*store.Target{store.NewTarget("first", e.Remote), store.NewTarget("nas", down)})
	for i := range 3 {
		storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte{byte(i)})
		if _, err := backup.Run(e.Ctx, e.Store, backup.Options{Source: e.Src}); err != nil {
			t.Fatal(err)
		}
	}
	if n := down.lists.Load(); n != 1 {
		t.Fatalf("the unreachable remote was listed %d times for 3 commits, want 1", n)
	}
}

// TestUploadStopsForOtherDeviceBelowHead: device B joined on A's second
// remote while A's deltas were not there yet (A committed with that remote
// out of reach) and committed there, below A's head. A's check before a
// commit looks at or past its head only, so it does not see B's delta;
// the check before the upload to that remote is what stops A. Refusing
// that upload alone (the remote "diverged") would let both devices write
// on, each to its own remote: this test pins why the upload check records
// a take-over (docs/switching-devices.md, "A replayed delta on a second
// remote").
func TestUploadStopsForOtherDeviceBelowHead(t *testing.T) {
	e := storetest.NewEnv(t)
	secondDir := t.TempDir()
	second := storetest.OpenRemote(t, secondDir)
	both := func() []*store.Target {
		return []*store.Target{store.NewTarget("first", e.Remote), store.NewTarget("second", second)}
	}
	e.Store.SetTargets(both())
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("base"))
	e.Backup()

	b, err := store.Open(e.Ctx, second, e.Key, store.Options{StateDir: t.TempDir(), DeviceID: [16]byte{0xb}})
	if err != nil {
		t.Fatal(err)
	}
	srcB := t.TempDir()
	storetest.WriteFile(t, filepath.Join(srcB, "b.txt"), []byte("device B"))
	if _, err := backup.Run(e.Ctx, b, backup.Options{Source: srcB}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
	b.Close()

	// A commits twice with the second remote out of reach.
	e.Store.SetTargets([]*store.Target{store.NewTarget("first", e.Remote)})
	for i := range 2 {
		storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte{'A', byte(i)})
		e.Backup()
	}
	// Back in reach: B's delta (sequence 2) is below A's head (3), so A's
	// next commit goes through.
	e.Store.SetTargets(both())
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("A, later"))
	if _, err := backup.Run(e.Ctx, e.Store, backup.Options{Source: e.Src}); err != nil {
		t.Fatalf("A's commit with B's delta below its head: %v", err)
	}

	if _, err := e.Store.Sync(e.Ctx); !errors.Is(err, store.ErrTakenOver) {
		t.Fatalf("A's upload to the second remote: %v, want taken over", err)
	}
	if two, _ := filepath.Glob(filepath.Join(secondDir, "deltas", storeSeqPrefix(2)+"*")); len(two) != 1 {
		t.Fatalf("deltas of sequence 2 on the second remote: %v", two)
	}
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("A, later still"))
	if _, err := backup.Run(e.Ctx, e.Store, backup.Options{Source: e.Src}); !errors.Is(err, store.ErrTakenOver) {
		t.Fatalf("A's next backup: %v, want taken over (else A and B both write on, each to its own remote)", err)
	}
}

// otherDeviceBacksUp is device B (its own state) opening the repository
// on rem, backing up a file of its own to targets (nil: rem alone) and
// stopping.
func otherDeviceBacksUp(t *testing.T, e *storetest.Env, rem remotes.Remote, targets []*store.Target) {
	t.Helper()
	b, err := store.Open(e.Ctx, rem, e.Key, store.Options{StateDir: t.TempDir(), DeviceID: [16]byte{0xb}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if targets != nil {
		b.SetTargets(targets)
	}
	srcB := t.TempDir()
	storetest.WriteFile(t, filepath.Join(srcB, "b.txt"), []byte("device B"))
	if _, err := backup.Run(e.Ctx, b, backup.Options{Source: srcB}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
}
