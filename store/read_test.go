package store_test

import (
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"testing"
	"time"

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
	chunk := func(i int) store.ChunkRef {
		var ref store.ChunkRef
		var pending sync.WaitGroup
		if err := w.Chunk(fmt.Appendf(nil, "chunk %d", i), false, true, &ref, &pending); err != nil {
			t.Fatal(err)
		}
		pending.Wait()
		return ref
	}
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
	var size int64
	for _, ref := range refs {
		size += int64(ref.Len)
	}
	c, _, err := w.FileContent(refs, size, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 23 lists of 64 (the 1st and the 21st equal, so the same id twice)
	// behind a list index.
	if c.Index == (crypt.ID{}) && len(c.Lists) == 0 {
		t.Fatal("the content was not stored as chunk lists; the test needs more chunks")
	}
	now := time.Now()
	root, err := w.Tree([]store.Node{{Name: "msgstore.db", Kind: store.KindFile, Mode: 0o600, ModTime: now.UnixNano(), Size: uint64(size), Content: c}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(store.Snapshot{ID: [16]byte{1}, Time: now.UTC(), Tree: root, Hostname: "test", Source: "/test", Files: 1, Bytes: uint64(size), RootMode: fs.ModeDir | 0o700, RootModTime: now.UnixNano()}); err != nil {
		t.Fatal(err)
	}
	got, err := r.ChunkRefs(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, refs) {
		t.Fatalf("ChunkRefs gave %d references, not the %d stored in order", len(got), len(refs))
	}
}
