package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/store"
)

// forkEnv is a repository forked on purpose: device A's newest delta
// (sequence 2) is hidden while device B writes its own sequence 2, then
// put back. It returns both devices' sequence-2 snapshots and delta files.
type forkEnv struct {
	*storetest.Env
	snapA, snapB   store.Snapshot
	deltaA, deltaB string
	srcB, stateB   string
}

func makeFork(t *testing.T) *forkEnv {
	t.Helper()
	e := storetest.NewEnv(t)
	f := &forkEnv{Env: e, srcB: t.TempDir(), stateB: t.TempDir()}
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("base"))
	e.Backup()
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("device A"))
	f.snapA = e.Backup().Snapshot
	f.deltaA = deltaOf(t, e.RemoteDir, f.snapA.Seq)
	hidden := filepath.Join(t.TempDir(), "hidden")
	if err := os.Rename(f.deltaA, hidden); err != nil {
		t.Fatal(err)
	}
	b, err := store.Open(e.Ctx, storetest.OpenRemote(t, e.RemoteDir), e.Key, store.Options{StateDir: f.stateB})
	if err != nil {
		t.Fatal(err)
	}
	storetest.WriteFile(t, filepath.Join(f.srcB, "b.txt"), []byte("device B"))
	res, err := backup.Run(e.Ctx, b, backup.Options{Source: f.srcB})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
	b.Close()
	f.snapB = res.Snapshot
	if f.snapB.Seq != f.snapA.Seq {
		t.Fatalf("device B wrote sequence %d, want %d (a fork)", f.snapB.Seq, f.snapA.Seq)
	}
	f.deltaB = deltaOf(t, e.RemoteDir, f.snapB.Seq)
	if err := os.Rename(hidden, f.deltaA); err != nil {
		t.Fatal(err)
	}
	return f
}

// deltaOf is the one delta file of sequence seq on a local remote.
func deltaOf(t *testing.T, dir string, seq uint64) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "deltas", storeSeqPrefix(seq)+"*"))
	if len(m) != 1 {
		t.Fatalf("deltas of sequence %d: %v", seq, m)
	}
	return m[0]
}

func storeSeqPrefix(seq uint64) string {
	const hex = "0123456789abcdef"
	b := make([]byte, 16)
	for i := 15; i >= 0; i-- {
		b[i] = hex[seq&15]
		seq >>= 4
	}
	return string(b) + "-"
}

// TestForkIsNeverSilent: two deltas with one sequence number must not make
// one device's snapshots vanish, pass check, or be pruned.
func TestForkIsNeverSilent(t *testing.T) {
	f := makeFork(t)
	fresh, err := f.OpenFresh(f.Key)
	if err != nil {
		t.Fatalf("opening a forked repository: %v", err)
	}
	ids := map[[16]byte]bool{}
	for _, s := range fresh.Snapshots() {
		ids[s.ID] = true
	}
	fresh.Close()
	if !ids[f.snapA.ID] || !ids[f.snapB.ID] {
		t.Errorf("snapshots list A's %s: %v, B's %s: %v; want both", f.snapA.ShortID(), ids[f.snapA.ID], f.snapB.ShortID(), ids[f.snapB.ID])
	}
	for name, snap := range map[string]store.Snapshot{"A": f.snapA, "B": f.snapB} {
		if _, err := f.RestoreFresh(snap.IDString()); err != nil {
			t.Errorf("restoring device %s's snapshot: %v", name, err)
		}
	}
	fresh, err = f.OpenFresh(f.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := check.Run(f.Ctx, fresh, check.Options{}); err == nil {
		t.Errorf("check passed a forked repository")
	}
	fresh.Close()

	f.Store.Close()
	a, err := store.Open(f.Ctx, f.Remote, f.Key, store.Options{StateDir: f.State})
	if err == nil {
		prune.Run(f.Ctx, a, prune.Options{Policy: prune.Policy{KeepLast: 1}})
		a.Close()
	}
	for _, p := range []string{f.deltaA, f.deltaB} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("after prune, %s: %v", filepath.Base(p), err)
		}
	}
}

// TestForkResolve: the fork is reported by name, writes and deletes wait,
// and a merge keeping either branch ends it with every snapshot listed.
func TestForkResolve(t *testing.T) {
	f := makeFork(t)
	f.Store.Close()
	a, err := store.Open(f.Ctx, f.Remote, f.Key, store.Options{StateDir: f.State})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	fk := a.Fork()
	if fk == nil || fk.Seq != f.snapA.Seq || len(fk.Branches) != 2 {
		t.Fatalf("fork: %+v", fk)
	}
	if _, err := check.Run(f.Ctx, a, check.Options{}); !errors.Is(err, store.ErrFork) {
		t.Fatalf("check: %v, want ErrFork", err)
	}
	storetest.WriteFile(t, filepath.Join(f.Src, "a.txt"), []byte("A again"))
	if _, err := backup.Run(f.Ctx, a, backup.Options{Source: f.Src}); !errors.Is(err, store.ErrFork) {
		t.Fatalf("backup on a fork: %v, want ErrFork", err)
	}
	if _, err := prune.Run(f.Ctx, a, prune.Options{Policy: prune.Policy{KeepLast: 1}}); !errors.Is(err, store.ErrFork) {
		t.Fatalf("prune on a fork: %v, want ErrFork", err)
	}
	if _, err := a.ResolveFork(f.Ctx, "ffffffffffff"); err == nil {
		t.Fatal("resolving with a prefix that names no branch succeeded")
	}
	kept, err := a.ResolveFork(f.Ctx, f.snapB.IDString()[:8])
	if err != nil {
		t.Fatal(err)
	}
	if kept.Hostname == "" || len(kept.Snapshots) != 1 || kept.Snapshots[0].ID != f.snapB.ID {
		t.Fatalf("kept branch %+v, want B's", kept)
	}
	if _, err := a.Sync(f.Ctx); err != nil {
		t.Fatal(err)
	}
	fresh, err := f.OpenFresh(f.Key)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Fork() != nil {
		t.Fatal("still forked after the merge")
	}
	if n := len(fresh.Snapshots()); n != 3 {
		t.Fatalf("%d snapshots after the merge, want 3", n)
	}
	if _, err := check.Run(f.Ctx, fresh, check.Options{ReadData: true}); err != nil {
		t.Fatalf("check after the merge: %v", err)
	}
	fresh.Close()
	for _, s := range []store.Snapshot{f.snapA, f.snapB} {
		if _, err := f.RestoreFresh(s.IDString()); err != nil {
			t.Fatalf("restore %s after the merge: %v", s.ShortID(), err)
		}
	}
	// Backups continue on the merged head; retention applies as usual,
	// and keeps the other branch's device's newest snapshot besides
	// (B's: its only one) until it is let go on purpose.
	if _, err := backup.Run(f.Ctx, a, backup.Options{Source: f.Src}); err != nil {
		t.Fatal(err)
	}
	res, err := prune.Run(f.Ctx, a, prune.Options{Policy: prune.Policy{KeepLast: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Forgotten != 1 || len(a.Snapshots()) != 3 || !slices.ContainsFunc(a.Snapshots(), func(s store.Snapshot) bool { return s.ID == f.snapB.ID }) {
		t.Fatalf("prune forgot %d, %d left (B's kept: want)", res.Forgotten, len(a.Snapshots()))
	}
	res, err = prune.Run(f.Ctx, a, prune.Options{Policy: prune.Policy{KeepLast: 2, ForgetDevices: []string{f.snapB.Hostname + ":" + f.srcB}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Forgotten != 1 || len(a.Snapshots()) != 2 {
		t.Fatalf("prune forgetting B: forgot %d, %d left", res.Forgotten, len(a.Snapshots()))
	}
}

// TestHeadNotDescendingIsAFork: device A's newest delta vanishes while B
// writes over the same sequence; A, reopening, finds a head that does not
// descend from the one it saw, refuses it as a fork, and accepts it only
// after a takeover.
func TestHeadNotDescendingIsAFork(t *testing.T) {
	f := makeFork(t)
	if err := os.Remove(f.deltaA); err != nil {
		t.Fatal(err)
	}
	f.Store.Close()
	ro, err := store.Open(f.Ctx, f.Remote, f.Key, store.Options{StateDir: f.State, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := check.Run(f.Ctx, ro, check.Options{}); !errors.Is(err, store.ErrFork) || !strings.Contains(err.Error(), "missing from the remote") {
		t.Fatalf("check on device A: %v, want a fork naming the missing head", err)
	}
	ro.Close()
	a, err := store.Open(f.Ctx, f.Remote, f.Key, store.Options{StateDir: f.State})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	storetest.WriteFile(t, filepath.Join(f.Src, "a.txt"), []byte("A again"))
	if _, err := backup.Run(f.Ctx, a, backup.Options{Source: f.Src}); !errors.Is(err, store.ErrFork) {
		t.Fatalf("backup: %v, want ErrFork", err)
	}
	if _, err := a.Takeover(f.Ctx, store.TakeoverOptions{}); err != nil {
		t.Fatal(err)
	}
	if a.Fork() != nil {
		t.Fatal("still forked after takeover")
	}
	if _, err := backup.Run(f.Ctx, a, backup.Options{Source: f.Src}); err != nil {
		t.Fatalf("backup after takeover: %v", err)
	}
	// B's own state saw its delta: no complaint there.
	b, err := store.Open(f.Ctx, f.Remote, f.Key, store.Options{StateDir: f.stateB, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if b.Fork() != nil {
		t.Fatalf("device B sees a fork: %+v", b.Fork())
	}
	b.Close()
}
