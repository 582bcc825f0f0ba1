package store_test

import (
	"sync"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// TestMediaBuffersGoBeforeThePages: the big buffers media chunks leave
// kept for reuse go once store.LeftoverAfter small jobs in a row were sealed,
// and a later media chunk makes one again.
func TestMediaBuffersGoBeforeThePages(t *testing.T) {
	e := storetest.NewEnv(t)
	r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := r.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	kept := func() int { return store.BigBuffersKept(w) }
	var refs [3 + store.LeftoverAfter + 1]store.ChunkRef
	var pending sync.WaitGroup
	chunk := func(i, n int) {
		t.Helper()
		data := storetest.RandBytes(uint64(i+1), n)
		if err := w.Chunk(data, true, false, &refs[i], &pending); err != nil {
			t.Fatal(err)
		}
		pending.Wait()
	}
	for i := range 3 {
		chunk(i, 2<<20)
	}
	if kept() == 0 {
		t.Fatal("no big buffer kept after media chunks: the test no longer exercises them")
	}
	for i := 3; i < 3+store.LeftoverAfter-1; i++ {
		chunk(i, 4096)
	}
	if kept() == 0 {
		t.Fatalf("the big buffers went after %d small jobs, before store.LeftoverAfter", store.LeftoverAfter-1)
	}
	chunk(3+store.LeftoverAfter-1, 4096)
	if n := kept(); n != 0 {
		t.Fatalf("%d bytes of big buffers kept after %d small jobs in a row", n, store.LeftoverAfter)
	}
	chunk(3+store.LeftoverAfter, 2<<20)
	if kept() == 0 {
		t.Fatal("a media chunk after the small ones made no big buffer")
	}
}
