package store_test

import (
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
)

// TestBytesAddUp: the breakdown's classes add up to each delta's size, and
// a database's pages are told from other files' chunks.
func TestBytesAddUp(t *testing.T) {
	e := storetest.NewEnv(t)
	db := storetest.OpenChatDB(t, filepath.Join(e.Src, "msgstore.db"))
	db.Insert(0, 2000, 500)
	storetest.WriteFile(t, filepath.Join(e.Src, "photo.jpg"), storetest.RandBytes(7, 300<<10))
	e.Backup()
	ds, err := e.Store.Bytes(e.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 {
		t.Fatalf("%d deltas, want 1", len(ds))
	}
	d := ds[0]
	sum := d.Pages.Stored + d.Files.Stored + d.Lists.Stored + d.Patches.Stored + d.ListIndexes.Stored + d.Trees.Stored +
		d.Dicts.Stored + d.Seals + d.Index + d.Trailer + d.Footer + d.Padding
	if sum != d.Size {
		t.Fatalf("classes add up to %d, the delta is %d bytes: %+v", sum, d.Size, d)
	}
	if d.Pages.Count < 10 || d.Files.Count == 0 || d.Files.Plain < 300<<10 || d.Trees.Count == 0 {
		t.Fatalf("pages %+v, files %+v, trees %+v: want the database's pages, the photo's chunks and the trees", d.Pages, d.Files, d.Trees)
	}
}
