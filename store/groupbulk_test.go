package store_test

import (
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// TestGroupsAtTheBulkLevel: past a delta's first bytes of groups, groups
// are compressed at the bulk level. The same database's groups then take
// fewer bytes than at groupLevel alone, and a new device still restores
// it byte for byte, reads a page of a bulk group on its own (the first
// and last of a group of more than GroupPages pages: past the
// threshold a run is sealed as one group), and check --read-data verifies
// every group.
func TestGroupsAtTheBulkLevel(t *testing.T) {
	sealed := func(t *testing.T, after int64) (e *storetest.Env, bytes int64) {
		store.SetGroupBulkAfter(t, after)
		e, _ = dictEnv(t)
		for _, g := range store.Groups(e.Store) {
			bytes += g.SealedLen
		}
		return e, bytes
	}
	_, plain := sealed(t, 1<<40)
	e, bulk := sealed(t, 64<<10) // the first two groups at groupLevel
	t.Logf("groups: %d bytes at groupLevel, %d with the bulk level past 64 KiB", plain, bulk)
	if bulk >= plain {
		t.Fatalf("groups past the threshold took %d bytes, at groupLevel %d: the bulk level was not used", bulk, plain)
	}
	fresh, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	dst := filepath.Join(t.TempDir(), "r")
	if _, err := restore.Run(e.Ctx, fresh, restore.Options{Target: dst}); err != nil {
		t.Fatal(err)
	}
	if got, want := storetest.DBDigest(t, filepath.Join(dst, "msgstore.db")), storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db")); got != want {
		t.Fatalf("restored digest %s, want %s", got, want)
	}
	gs := store.Groups(fresh)
	last := gs[len(gs)-1]
	if p, err := store.ReadBlob(e.Ctx, fresh, last.Members[len(last.Members)-1]); err != nil || len(p) != 4096 {
		t.Fatalf("reading a page of a bulk group alone: %d bytes, %v", len(p), err)
	}
	// Past the threshold a run is one group, of up to store.RunPages.
	var large *store.GroupInfo
	for i := range gs {
		n := len(gs[i].Members)
		if n > store.RunPages {
			t.Fatalf("a group of %d pages, more than %d", n, store.RunPages)
		}
		if n > store.GroupPages && large == nil {
			large = &gs[i]
		}
	}
	if large == nil {
		t.Fatalf("no group past the threshold holds more than %d pages", store.GroupPages)
	}
	for _, k := range [...]int{0, len(large.Members) - 1} {
		if p, err := store.ReadBlob(e.Ctx, fresh, large.Members[k]); err != nil || len(p) != 4096 {
			t.Fatalf("reading page %d of a group of %d alone: %d bytes, %v", k, len(large.Members), len(p), err)
		}
	}
	if _, err := check.Run(e.Ctx, fresh, check.Options{ReadData: true}); err != nil {
		t.Fatalf("check --read-data: %v", err)
	}
}
