package store_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// A file of many chunk lists, two of them equal (a run of pages that
// repeats), resolves to its references in order: the lists are fetched
// together and joined by position, not in the order they arrive.
func TestChunkRefsJoinsListsInOrder(t *testing.T) {
	r, _ := storetest.NewStore(t)
	w, err := r.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	chunk := func(i int) store.ChunkRef { return storeChunk(t, w, fmt.Appendf(nil, "chunk %d", i), false) }
	var run []store.ChunkRef
	for i := range 64 {
		run = append(run, chunk(i))
	}
	var refs []store.ChunkRef
	refs = append(refs, run...)
	for i := 64; i < 64*20; i++ {
		refs = append(refs, chunk(i))
	}
	refs = append(refs, run...) // a list equal to the first
	for i := 64 * 30; i < 64*31+17; i++ {
		refs = append(refs, chunk(i))
	}
	c := commitOneFile(t, w, 1, "msgstore.db", refs)
	// 23 lists of 64 (the 1st and the 21st equal, so the same id twice)
	// behind a list index.
	if c.Index == (crypt.ID{}) && len(c.Lists) == 0 {
		t.Fatal("the content was not stored as chunk lists; the test needs more chunks")
	}
	got, err := r.ChunkRefs(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, refs) {
		t.Fatalf("ChunkRefs gave %d references, not the %d stored in order", len(got), len(refs))
	}
}
