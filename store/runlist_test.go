package store_test

import (
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/store"
)

// TestRunListsThroughPruneAndRotate: a database's first backup names its
// pages sealed in groups by runs (a run list a 256 pages, in a few bytes
// a group), which a new device restores byte for byte and check verifies;
// a change stored as a patch on those lists, a prune that compacts every
// delta and a key rotation (which carries groups whole) leave every
// snapshot restorable.
func TestRunListsThroughPruneAndRotate(t *testing.T) {
	e := storetest.NewEnv(t)
	db := storetest.OpenChatDB(t, filepath.Join(e.Src, "msgstore.db"))
	db.Insert(0, 30000, 5000)
	e.Backup()
	plain, runs, _, runBytes := store.ListBlobs(e.Store)
	t.Logf("%d plain lists, %d run lists of %d bytes", plain, runs, runBytes)
	if runs == 0 {
		t.Fatalf("a first backup wrote %d plain lists and no run list", plain)
	}
	// 256 pages a run list, mostly in runs of store.GroupPages (the
	// database's groups are below the bulk threshold) at ~35 bytes a run:
	// a run list holds a small fraction of the 36 bytes a page a plain
	// list costs, and half again as many runs is too many.
	if per := runBytes / runs; per > 256/store.GroupPages*36*3/2 {
		t.Fatalf("a run list holds %d bytes on average", per)
	}
	verify := func(when string) {
		t.Helper()
		want := storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db"))
		if got, err := restoreDigest(t, e, e.Key); err != nil || got != want {
			t.Fatalf("%s: restore: %v (digest %s, want %s)", when, err, got, want)
		}
		fresh, err := e.OpenFresh(e.Key)
		if err != nil {
			t.Fatal(err)
		}
		defer fresh.Close()
		if _, err := check.Run(e.Ctx, fresh, check.Options{ReadData: true}); err != nil {
			t.Fatalf("%s: check --read-data: %v", when, err)
		}
	}
	verify("first backup")

	db.Insert(30000, 30040, 40)
	e.Backup()
	verify("a patch on run lists")

	// Keep the last snapshot only and rewrite every delta: the groups
	// the kept run lists name are copied whole.
	if _, err := prune.Run(e.Ctx, e.Store, prune.Options{Policy: prune.Policy{KeepLast: 1}, SmallDelta: 1 << 40}); err != nil {
		t.Fatal(err)
	}
	verify("after prune")

	rotateKey(t, e)
	if _, runs2, _, _ := store.ListBlobs(e.Store); runs2 == 0 {
		t.Fatal("no run list after rotation")
	}
	verify("after rotation")
}
