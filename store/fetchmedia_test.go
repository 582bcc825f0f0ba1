package store_test

import (
	"runtime"
	"sync"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// TestMediaChunksFetchIntoKeptBuffers: a restore of media reads 2 MiB
// chunks (source.MediaChunk), each a range of its own; their buffers are
// kept for the next, as smaller ranges' are, not made afresh per chunk
// (which cost a restore a third more CPU, in the collector and in page
// faults).
func TestMediaChunksFetchIntoKeptBuffers(t *testing.T) {
	r, _ := storetest.NewStore(t)
	w, err := r.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const n, size = 8, 2 << 20
	data := storetest.RandBytes(41, n*size)
	refs := make([]store.ChunkRef, n)
	var wg sync.WaitGroup
	for i := range refs {
		if err := w.Chunk(data[i*size:(i+1)*size], true, false, &refs[i], &wg); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err := w.Drain(); err != nil {
		t.Fatal(err)
	}
	c, _, err := w.FileContent(store.RefsOf(refs), n*size, nil)
	if err != nil {
		t.Fatal(err)
	}
	commitContent(t, w, 1, "clip.mp4", c, refs) // readlists_test.go
	ids := make([]crypt.ID, n)
	for i := range refs {
		ids[i] = refs[i].ID
	}
	fetch := func() {
		if err := r.FetchBatches(t.Context(), ids, func(*store.Batch) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	fetch()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const rounds = 10
	for range rounds {
		fetch()
	}
	runtime.ReadMemStats(&after)
	perFetch := (after.TotalAlloc - before.TotalAlloc) / rounds
	t.Logf("%d chunks of %d bytes: %d bytes allocated a fetch", n, size, perFetch)
	if perFetch > n*size/2 {
		t.Fatalf("a fetch of %d chunks of %d bytes allocated %d bytes: their buffers are made afresh", n, size, perFetch)
	}
}
