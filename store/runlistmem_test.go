package store_test

import (
	"path/filepath"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/chatsafe/chatsafe/browse"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// A database stored in run lists resolves into one slice of references,
// each list decoded into its place (run lists hold runListChunks pages):
// not decoded apart and joined again, which held the references twice.
func TestRunListsDecodeIntoPlace(t *testing.T) {
	e := storetest.NewEnv(t)
	db := storetest.OpenChatDB(t, filepath.Join(e.Src, "msgstore.db"))
	db.Insert(0, 30000, 5000)
	e.Backup()
	if _, runs, _, _ := store.ListBlobs(e.Store); runs == 0 {
		t.Fatal("the first backup wrote no run list")
	}
	snap, err := browse.Select(e.Store, "latest", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := browse.Lookup(e.Ctx, e.Store, snap, "msgstore.db")
	if err != nil {
		t.Fatal(err)
	}
	want, err := e.Store.ChunkRefs(e.Ctx, n.Content) // warms the caches
	if err != nil {
		t.Fatal(err)
	}
	// What the read itself allocates (its range buffers, which depend on
	// where the lists landed among the pages) is measured apart and taken
	// off; the least of five tries, as the race detector's sync.Pool drops
	// buffers at random.
	least := func(f func() error) uint64 {
		alloc := ^uint64(0)
		for range 5 {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			err := f()
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			alloc = min(alloc, after.TotalAlloc-before.TotalAlloc)
		}
		return alloc
	}
	read := least(func() error { return store.FetchListsOnly(e.Ctx, e.Store, n.Content) })
	var got []store.ChunkRef
	total := least(func() (err error) {
		got, err = e.Store.ChunkRefs(e.Ctx, n.Content)
		return err
	})
	if len(got) != len(want) || len(got) < 1000 {
		t.Fatalf("%d references, want %d (more than 1000)", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("reference %d differs between two reads", i)
		}
	}
	refBytes := uint64(len(got)) * uint64(unsafe.Sizeof(store.ChunkRef{}))
	// One slice of the references (rounded up to whole lists) and the
	// fetch's own small buffers; decoded apart and joined, twice as much.
	alloc := total - min(read, total)
	t.Logf("%d references (%d bytes): %d bytes allocated, %d of them by the read", len(got), refBytes, total, read)
	if alloc > refBytes*3/2+16<<10 {
		t.Fatalf("resolving %d references (%d bytes) allocated %d bytes: decoded apart and joined?", len(got), refBytes, alloc)
	}
}
