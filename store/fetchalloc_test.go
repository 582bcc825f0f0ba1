package store_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// A ranged read's compressed blobs are opened one after another into one
// buffer: each is decompressed after the ones before it, and the buffer
// keeps its capacity, so a 1 MiB range of 256 pages allocates about its
// size, not a copy of everything before it for every blob.
func TestRangeOfCompressedBlobsIsNotCopiedPerBlob(t *testing.T) {
	r, _ := storetest.NewStore(t)
	w, err := r.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const n = 256
	refs := make([]store.ChunkRef, n)
	var wg sync.WaitGroup
	for i := range refs {
		data := []byte(fmt.Sprintf("%06d", i))
		for len(data) < 4096 {
			data = append(data, fmt.Sprintf(" chunk %d text line %d;", i, len(data))...)
		}
		if err := w.Chunk(data[:4096], false, false, &refs[i], &wg); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err := w.Drain(); err != nil {
		t.Fatal(err)
	}
	c, _, err := w.FileContent(store.RefsOf(refs), n*4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	commitContent(t, w, 1, "f", c, refs) // readlists_test.go
	ids := make([]crypt.ID, n)
	for i := range refs {
		ids[i] = refs[i].ID
	}
	fetch := func() int {
		batches := 0
		if err := r.FetchBatches(t.Context(), ids, func(b *store.Batch) error { batches++; return nil }); err != nil {
			t.Fatal(err)
		}
		return batches
	}
	fetch()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const rounds = 20
	batches := 0
	for range rounds {
		batches = fetch()
	}
	runtime.ReadMemStats(&after)
	perFetch := (after.TotalAlloc - before.TotalAlloc) / rounds
	t.Logf("%d blobs in %d batches: %d bytes allocated a fetch", n, batches, perFetch)
	if perFetch > 4*n*4096 {
		t.Fatalf("a fetch of %d bytes in %d batches allocated %d bytes: the range's buffer is copied per blob", n*4096, batches, perFetch)
	}
}
