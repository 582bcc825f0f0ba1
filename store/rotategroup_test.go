package store_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// TestRotationCarriesGroupsWhole: a key rotation keeps every group of
// pages a group, with the same members in the same order (a run list
// names a group by id and its members by position), and the database
// restores with the new key.
func TestRotationCarriesGroupsWhole(t *testing.T) {
	e := storetest.NewEnv(t)
	db := storetest.OpenChatDB(t, filepath.Join(e.Src, "msgstore.db"))
	db.Insert(0, 4000, 500)
	e.Backup()
	members := func() [][]crypt.ID {
		var out [][]crypt.ID
		for _, g := range store.Groups(e.Store) {
			out = append(out, g.Members)
		}
		slices.SortFunc(out, func(a, b []crypt.ID) int { return slices.Compare(a[0][:], b[0][:]) })
		return out
	}
	before := members()
	if len(before) == 0 {
		t.Fatal("the backup sealed no group")
	}
	newKey := rotateKey(t, e)
	after := members()
	if !slices.EqualFunc(before, after, slices.Equal[[]crypt.ID]) {
		t.Fatalf("%d groups before the rotation, %d after, or other members", len(before), len(after))
	}
	want := storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db"))
	if got, err := restoreDigest(t, e, newKey); err != nil || got != want {
		t.Fatalf("restore after rotation: %v (digest %s, want %s)", err, got, want)
	}
}
