package store_test

import (
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// TestRepairMovesTheCommitPoint: with a commit point (the vault's head
// record) that records the damaged head, repair moves it to the repair
// head by compare-and-swap, and the next commit moves it on from there.
func TestRepairMovesTheCommitPoint(t *testing.T) {
	e := storetest.NewEnv(t)
	e.Store.Close()
	g := &memGuard{}
	open := func() *store.Store {
		r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State, CommitGuard: g, Partial: true})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	e.Store = open()
	for i, name := range []string{"a.txt", "b.txt", "c.txt"} {
		storetest.WriteFile(t, filepath.Join(e.Src, name), []byte(name))
		e.Backup()
		if g.head.Seq != uint64(i+1) {
			t.Fatalf("commit point at %d after backup %d", g.head.Seq, i+1)
		}
	}
	d := storetest.DeltaFiles(t, e.RemoteDir)
	flipByte(t, d[2], -30)
	e.Store.Close()
	e.Store = open()
	if _, err := e.Store.Repair(e.Ctx, true); err != nil {
		t.Fatalf("repair --dry-run: %v", err)
	}
	if g.head.Seq != 3 {
		t.Fatalf("a dry run moved the commit point to %d", g.head.Seq)
	}
	plan, err := e.Store.Repair(e.Ctx, false)
	if err != nil {
		t.Fatalf("repair with a commit point: %v", err)
	}
	if g.head.Seq != plan.NewSeq {
		t.Fatalf("commit point at %d after repair, want the repair head %d", g.head.Seq, plan.NewSeq)
	}
	if _, err := e.Store.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
	storetest.WriteFile(t, filepath.Join(e.Src, "d.txt"), []byte("after the repair"))
	e.Backup()
	if g.head.Seq != plan.NewSeq+1 || e.Store.HeadSeq() != plan.NewSeq+1 {
		t.Fatalf("after the next backup: commit point %d, head %d, want %d", g.head.Seq, e.Store.HeadSeq(), plan.NewSeq+1)
	}
}
