package check_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// TestCompareCompactionWaitingInSpool: a prune compacted the history while
// the second remote was out of reach. It still shows the deltas the
// compaction replaces, and lacks the compaction, which waits in the spool:
// an older state of the same history, not an error.
func TestCompareCompactionWaitingInSpool(t *testing.T) {
	e := storetest.NewEnv(t)
	secondDir := t.TempDir()
	second := storetest.OpenRemote(t, secondDir)
	e.Store.SetTargets([]*store.Target{store.NewTarget("first", e.Remote), store.NewTarget("second", second)})
	db := storetest.OpenChatDB(t, filepath.Join(e.Src, "msgstore.db"))
	for i := range 3 {
		db.Insert(i*100, i*100+100, 50)
		e.Backup()
	}
	// The prune reaches the first remote only.
	firstOnly := []*store.Target{e.Store.Targets()[0]}
	if _, err := prune.Run(e.Ctx, e.Store, prune.Options{Policy: prune.Policy{KeepLast: 1}, Targets: firstOnly}); err != nil {
		t.Fatal(err)
	}

	first := openReadOnly(t, e, e.Remote, e.State)
	other := openReadOnly(t, e, second, "")
	if other.HeadRef() == first.HeadRef() {
		t.Fatal("the second remote got the compaction: nothing to compare")
	}
	c := compare(t, e, first, other)
	if len(c.Errors) > 0 || len(c.Pending) == 0 {
		t.Fatalf("compared with the compaction waiting in the spool: pending %v, errors %v", c.Pending, c.Errors)
	}

	// Without this device's spool (the spool lost, or another device
	// looking), the same remote lacks the compaction for good.
	first = openReadOnly(t, e, e.Remote, "")
	c = compare(t, e, first, other)
	if len(c.Missing) == 0 || !errors.Is(errors.Join(c.Errors...), check.ErrDiverged) || len(c.Foreign) > 0 {
		t.Fatalf("compared without the spool: missing %v, foreign %v, errors %v", c.Missing, c.Foreign, c.Errors)
	}
}

// openReadOnly opens the repository on r as check does: with this
// device's state directory (the first remote), or none (another remote).
// It is closed at the end of the test.
func openReadOnly(t *testing.T, e *storetest.Env, r remotes.Remote, stateDir string) *store.Store {
	t.Helper()
	s, err := store.Open(e.Ctx, r, e.Key, store.Options{StateDir: stateDir, ReadOnly: true, Partial: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestCompareOtherDeviceAtFirstLacking: device B joined on the second
// remote and committed its sequence 2 there while A's own 2 and 3 wait in
// A's spool for that remote (docs/switching-devices.md, step 2). B's delta
// lies exactly at the first delta the remote lacks: another history, not
// an older state of A's.
func TestCompareOtherDeviceAtFirstLacking(t *testing.T) {
	e := storetest.NewEnv(t)
	second := storetest.OpenRemote(t, t.TempDir())
	both := []*store.Target{store.NewTarget("first", e.Remote), store.NewTarget("second", second)}
	e.Store.SetTargets(both)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("base"))
	e.Backup()

	b, err := store.Open(e.Ctx, second, e.Key, store.Options{StateDir: t.TempDir(), DeviceID: [16]byte{0xb}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	srcB := t.TempDir()
	storetest.WriteFile(t, filepath.Join(srcB, "b.txt"), []byte("device B"))
	if _, err := backup.Run(e.Ctx, b, backup.Options{Source: srcB}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}

	// A commits twice with the second remote out of reach: its spool keeps both.
	e.Store.SetTargets([]*store.Target{both[0], store.BrokenTarget("second", errors.New("out of reach"))})
	for i := range 2 {
		storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte{'A', byte(i)})
		if _, err := backup.Run(e.Ctx, e.Store, backup.Options{Source: e.Src}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Store.Sync(e.Ctx); err == nil {
			t.Fatal("synced to a remote out of reach")
		}
	}
	first := openReadOnly(t, e, e.Remote, e.State)
	other := openReadOnly(t, e, second, "")
	if other.HeadRef().Seq != 2 || other.HeadRef().Device != b.HeadRef().Device {
		t.Fatalf("the second remote's head is %+v, want B's sequence 2", other.HeadRef())
	}
	c := compare(t, e, first, other)
	if len(c.Pending) != 2 || len(c.Foreign) != 1 || c.Foreign[0].Seq != 2 || !errors.Is(errors.Join(c.Errors...), check.ErrDiverged) {
		t.Fatalf("B's branch at the first delta A's spool holds for the remote: pending %v, foreign %v, errors %v", c.Pending, c.Foreign, c.Errors)
	}
}

// TestCompareDamagedDeltaOnSecondRemote: the second remote holds the
// newest delta, damaged. Check reports the damage (the store skipped that
// head); the delta is not also "lacking": the remote holds it, so no sync
// copies it there until it is deleted.
func TestCompareDamagedDeltaOnSecondRemote(t *testing.T) {
	e := storetest.NewEnv(t)
	secondDir := t.TempDir()
	second := storetest.OpenRemote(t, secondDir)
	e.Store.SetTargets([]*store.Target{store.NewTarget("first", e.Remote), store.NewTarget("second", second)})
	db := storetest.OpenChatDB(t, filepath.Join(e.Src, "msgstore.db"))
	for i := range 2 {
		db.Insert(i*100, i*100+100, 50)
		e.Backup()
	}
	newest := e.Store.HeadRef()
	var damaged string
	for _, d := range e.Store.LiveDeltas() {
		if d.Seq == newest.Seq {
			damaged = d.Name
		}
	}
	p := filepath.Join(secondDir, filepath.FromSlash(damaged))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-20] ^= 1 // in the trailer, which opening authenticates
	storetest.WriteFile(t, p, b)

	first := openReadOnly(t, e, e.Remote, e.State)
	other := openReadOnly(t, e, second, "")
	if other.Damage() == nil {
		t.Fatal("the damaged head was read")
	}
	c := compare(t, e, first, other)
	if len(c.Missing) > 0 || len(c.Foreign) > 0 || len(c.Errors) > 0 {
		t.Fatalf("the damaged delta the remote holds: missing %v, foreign %v, errors %v", c.Missing, c.Foreign, c.Errors)
	}
}

// compare is check.Compare, failing the test on an error of its own.
func compare(t *testing.T, e *storetest.Env, first, other check.Store) *check.Compared {
	t.Helper()
	c, err := check.Compare(e.Ctx, first, other)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCompareCommitsDuringCheck: the daemon commits and uploads while
// check runs (a --read-data check of a remote takes minutes). Whichever
// remote check loaded first, this device's own new delta is neither
// another history on the second remote nor one it lacks.
func TestCompareCommitsDuringCheck(t *testing.T) {
	e := storetest.NewEnv(t)
	second := storetest.OpenRemote(t, t.TempDir())
	e.Store.SetTargets([]*store.Target{store.NewTarget("first", e.Remote), store.NewTarget("second", second)})
	db := storetest.OpenChatDB(t, filepath.Join(e.Src, "msgstore.db"))
	db.Insert(0, 100, 50)
	e.Backup()

	// The first remote loaded and checked, then the second one opened.
	first := openReadOnly(t, e, e.Remote, e.State)
	db.Insert(100, 200, 50)
	e.Backup()
	other := openReadOnly(t, e, second, "")
	if c := compare(t, e, first, other); len(c.Errors) > 0 {
		t.Fatalf("the second remote opened after a commit: %v", c.Errors)
	}

	// The second remote opened and checked, then compared with the first.
	other = openReadOnly(t, e, second, "")
	db.Insert(200, 300, 50)
	e.Backup()
	first = openReadOnly(t, e, e.Remote, e.State)
	if c := compare(t, e, first, other); len(c.Errors) > 0 {
		t.Fatalf("the first remote read after a commit: %v", c.Errors)
	}
}

// TestCompareFirstRemoteLostADelta: the first remote lost delta 2 of 3,
// which the second remote holds with the rest. The first remote's history
// stops at 1 (damage); the second remote's deltas past it are that same
// history, hidden by the damage: no error of the second remote's.
func TestCompareFirstRemoteLostADelta(t *testing.T) {
	e := storetest.NewEnv(t)
	second := storetest.OpenRemote(t, t.TempDir())
	e.Store.SetTargets([]*store.Target{store.NewTarget("first", e.Remote), store.NewTarget("second", second)})
	for i := range 3 {
		storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte{'v', byte(i)})
		e.Backup()
	}
	if err := os.Remove(storetest.DeltaFiles(t, e.RemoteDir)[1]); err != nil {
		t.Fatal(err)
	}
	first := openReadOnly(t, e, e.Remote, e.State)
	if first.Damage() == nil {
		t.Fatal("the first remote lost a delta and is not damaged")
	}
	other := openReadOnly(t, e, second, "")
	c := compare(t, e, first, other)
	if len(c.Hidden) != 2 || len(c.Foreign) > 0 || len(c.Missing) > 0 || len(c.Errors) > 0 {
		t.Fatalf("hidden %v, foreign %v, missing %v, errors %v; want deltas 2 and 3 hidden, no error", c.Hidden, c.Foreign, c.Missing, c.Errors)
	}
}
