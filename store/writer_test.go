package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// TestTakenOver: a device that finds a newer delta of another device
// writes nothing, stays stopped across a restart, and writes again only
// after Takeover.
func TestTakenOver(t *testing.T) {
	e := storetest.NewEnv(t)
	e.Store.Close()
	devA, devB := [16]byte{0xa}, [16]byte{0xb}
	openA := func() *store.Store {
		a, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State, DeviceID: devA, Hostname: "old-phone"})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := openA()
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("one"))
	run := func(st *store.Store, src string) error {
		_, err := backup.Run(e.Ctx, st, backup.Options{Source: src})
		if err == nil {
			_, err = st.Sync(e.Ctx)
		}
		return err
	}
	if err := run(a, e.Src); err != nil {
		t.Fatal(err)
	}
	// Device B joins and writes.
	srcB := t.TempDir()
	storetest.WriteFile(t, filepath.Join(srcB, "b.txt"), []byte("two"))
	b, err := store.Open(e.Ctx, storetest.OpenRemote(t, e.RemoteDir), e.Key, store.Options{StateDir: t.TempDir(), DeviceID: devB, Hostname: "new-laptop"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := run(b, srcB); err != nil {
		t.Fatalf("the joining device: %v", err)
	}
	// A, still running, finds B's delta when it commits.
	before := len(storetest.DeltaFiles(t, e.RemoteDir))
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("three"))
	err = run(a, e.Src)
	var te *store.TakenOverError
	if !errors.Is(err, store.ErrTakenOver) || !errors.As(err, &te) || te.Hostname != "new-laptop" || te.Device != devB {
		t.Fatalf("old device: %v (%+v), want taken over by new-laptop", err, te)
	}
	if n := len(storetest.DeltaFiles(t, e.RemoteDir)); n != before || len(a.Pending()) != 0 {
		t.Fatalf("the old device wrote: %d deltas (was %d), %d pending", n, before, len(a.Pending()))
	}
	a.Close()
	// A restart does not resume writing.
	a = openA()
	defer func() { a.Close() }()
	if a.TakenOver() == nil {
		t.Fatal("restarted old device forgot it was taken over")
	}
	if err := run(a, e.Src); !errors.Is(err, store.ErrTakenOver) {
		t.Fatalf("restarted old device: %v, want taken over", err)
	}
	if _, err := a.Takeover(e.Ctx, store.TakeoverOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := run(a, e.Src); err != nil {
		t.Fatalf("after takeover: %v", err)
	}
	// Now B is the one taken over.
	storetest.WriteFile(t, filepath.Join(srcB, "b.txt"), []byte("four"))
	if err := run(b, srcB); !errors.Is(err, store.ErrTakenOver) {
		t.Fatalf("device B after A's takeover: %v, want taken over", err)
	}
	fresh, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	snaps := fresh.Snapshots()
	if len(snaps) != 3 || snaps[0].Device != devA || snaps[1].Device != devB || snaps[2].Device != devA || fresh.Fork() != nil {
		t.Fatalf("snapshots %+v", snaps)
	}
}

// memGuard is a commit point in memory: compare-and-swap on one head.
type memGuard struct{ head store.HeadRef }

func (g *memGuard) Advance(_ context.Context, prev, next store.HeadRef) error {
	if g.head != prev {
		return &store.TakenOverError{Device: g.head.Device, Hostname: "elsewhere"}
	}
	g.head = next
	return nil
}

func (g *memGuard) Head(context.Context) (store.HeadRef, error) { return g.head, nil }

// TestCommitGuard: each commit moves the commit point from the head it
// was written on; when the commit point moved elsewhere, nothing enters
// the spool and the device is taken over.
func TestCommitGuard(t *testing.T) {
	e := storetest.NewEnv(t)
	e.Store.Close()
	g := &memGuard{}
	dev := [16]byte{1}
	st, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State, DeviceID: dev, CommitGuard: g})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("one"))
	res, err := backup.Run(e.Ctx, st, backup.Options{Source: e.Src})
	if err != nil {
		t.Fatal(err)
	}
	if g.head.Seq != res.Snapshot.Seq || g.head.Device != dev || g.head.TrailerHash == ([32]byte{}) {
		t.Fatalf("commit point after the first commit: %+v", g.head)
	}
	g.head = store.HeadRef{Seq: 9, Device: [16]byte{2}} // another device committed
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("two"))
	if _, err := backup.Run(e.Ctx, st, backup.Options{Source: e.Src}); !errors.Is(err, store.ErrTakenOver) {
		t.Fatalf("commit against a moved commit point: %v, want taken over", err)
	}
	if p := st.Pending(); len(p) != 1 || st.HeadSeq() != res.Snapshot.Seq {
		t.Fatalf("pending %+v, head %d: the refused delta entered the spool", p, st.HeadSeq())
	}
	if to := st.TakenOver(); to == nil || to.Hostname != "elsewhere" {
		t.Fatalf("taken over: %+v", to)
	}
}

// TestCommitReturnsTheListedSnapshot: the snapshot Commit hands back is the
// one Snapshots lists afterwards, device included, so a backup's result
// reads the same whether it just committed or found nothing changed.
func TestCommitReturnsTheListedSnapshot(t *testing.T) {
	e := storetest.NewEnv(t)
	e.Store.Close()
	dev := [16]byte{0xd, 0xe, 0x5}
	st, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State, DeviceID: dev, Hostname: "phone"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("one"))
	res, err := backup.Run(e.Ctx, st, backup.Options{Source: e.Src})
	if err != nil {
		t.Fatal(err)
	}
	snaps := st.Snapshots()
	if len(snaps) != 1 {
		t.Fatalf("%d snapshots, want 1", len(snaps))
	}
	if res.Snapshot.Device != dev || !reflect.DeepEqual(res.Snapshot, snaps[0]) {
		t.Fatalf("commit returned %+v\nthe store lists  %+v", res.Snapshot, snaps[0])
	}
}

// TestTakenOverReadOnly: a read-only store (check, beside the daemon)
// records nothing, but tells that another device committed after this
// device's last commit, and names it.
func TestTakenOverReadOnly(t *testing.T) {
	e := storetest.NewEnv(t)
	e.Store.Close()
	devA, devB := [16]byte{0xa}, [16]byte{0xb}
	open := func(stateDir string, dev [16]byte, host string, readOnly bool) *store.Store {
		s, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: stateDir, DeviceID: dev, Hostname: host, ReadOnly: readOnly})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	commit := func(st *store.Store, src string) {
		t.Helper()
		if _, err := backup.Run(e.Ctx, st, backup.Options{Source: src}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Sync(e.Ctx); err != nil {
			t.Fatal(err)
		}
	}
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("one"))
	commit(open(e.State, devA, "old-phone", false), e.Src)
	if to := open(e.State, devA, "old-phone", true).TakenOver(); to != nil {
		t.Fatalf("this device's own head read as a take-over: %v", to)
	}

	srcB := t.TempDir()
	storetest.WriteFile(t, filepath.Join(srcB, "b.txt"), []byte("two"))
	commit(open(t.TempDir(), devB, "new-laptop", false), srcB)
	to := open(e.State, devA, "old-phone", true).TakenOver()
	if to == nil || to.Device != devB || to.Hostname != "new-laptop" {
		t.Fatalf("read-only after another device's commit: %+v, want taken over by new-laptop", to)
	}
}
