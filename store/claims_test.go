package store_test

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// The deltas' claim sets (store/claims.go) decide what is stored: these
// tests pin that no chunk is stored twice, whoever submits it, whichever
// delta (being written or being committed in the background) holds it.

const claimChunk = 16 << 10

// claimChunks returns n distinct chunks of claimChunk bytes.
func claimChunks(n int) [][]byte {
	data := storetest.RandBytes(11, n*claimChunk)
	chunks := make([][]byte, n)
	for i := range chunks {
		chunks[i] = data[i*claimChunk : (i+1)*claimChunk]
	}
	return chunks
}

// TestConcurrentWritersClaimOnce: four goroutines submit the same chunks
// in different orders, inline and through the sealing workers, while full
// deltas rotate under a 1 MiB cap; each chunk is stored once and every
// reference names it.
func TestConcurrentWritersClaimOnce(t *testing.T) {
	e := storetest.NewEnv(t)
	r := openCapped(t, e, t.TempDir())
	defer r.Close()
	w, err := r.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const n, writers = 240, 4
	chunks := claimChunks(n)
	refs := make([][]store.ChunkRef, writers)
	var pending sync.WaitGroup
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for g := range writers {
		refs[g] = make([]store.ChunkRef, n)
		order := rand.New(rand.NewPCG(uint64(g), 7)).Perm(n)
		wg.Go(func() {
			for _, i := range order {
				if err := w.Chunk(chunks[i], true, (i+g)%2 == 0, &refs[g][i], &pending); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	pending.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := w.Err(); err != nil {
		t.Fatal(err)
	}
	for g := 1; g < writers; g++ {
		for i := range n {
			if refs[g][i] != refs[0][i] || refs[0][i].Len != claimChunk {
				t.Fatalf("chunk %d: writer %d got %x/%d, writer 0 %x/%d", i, g, refs[g][i].ID[:4], refs[g][i].Len, refs[0][i].ID[:4], refs[0][i].Len)
			}
		}
	}
	if got := w.NewBlobs(); got != n {
		t.Fatalf("%d blobs stored for %d distinct chunks submitted %d times each", got, n, writers)
	}
	tree, err := w.Tree(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(store.Snapshot{Tree: tree, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	deltas, _ := w.Written()
	if deltas < 3 {
		t.Fatalf("%d deltas: the test wants deltas rotated while the writers run", deltas)
	}
	for i := range n {
		if !w.Has(refs[0][i].ID) {
			t.Fatalf("chunk %d is not in the repository", i)
		}
	}
	if _, err := r.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
	if total := storetest.RemoteSize(t, e.RemoteDir); total > int64(n*claimChunk)*5/4 {
		t.Fatalf("%d bytes on the remote for %d bytes of chunks: some were stored twice", total, n*claimChunk)
	}
}

// TestHeldDeltaStillDedupes: while a full delta's background commit is
// held, its chunks submitted again (by the workers or inline) are found
// in it and not stored in the next delta; after the commit, in the index.
func TestHeldDeltaStillDedupes(t *testing.T) {
	e := storetest.NewEnv(t)
	state := t.TempDir()
	r := openCapped(t, e, state)
	defer r.Close()
	entered, release := holdFirstFullCommit(t)
	w, err := r.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	chunks := claimChunks(200)
	slots := make([]store.ChunkRef, len(chunks))
	var pending sync.WaitGroup
	k := 0
	for spoolPartials(t, state) < 2 { // the first delta is full and held
		if k == len(chunks) {
			t.Fatal("no delta was full after 200 chunks of 16 KiB under a 1 MiB cap")
		}
		if err := w.Chunk(chunks[k], true, k%2 == 0, &slots[k], &pending); err != nil {
			t.Fatal(err)
		}
		k++
	}
	<-entered
	pending.Wait()
	held := w.NewBlobs()
	again := make([]store.ChunkRef, k)
	submitAgain := func(inline bool, held int) {
		t.Helper()
		for i := range k - 1 { // the last one went into the next delta
			if err := w.Chunk(chunks[i], true, inline, &again[i], &pending); err != nil {
				t.Fatal(err)
			}
		}
		pending.Wait()
		if got := w.NewBlobs(); got != held {
			t.Fatalf("%d blobs stored after the held delta's %d chunks came again (inline %v), want %d", got, k-1, inline, held)
		}
		for i := range k - 1 {
			if again[i] != slots[i] {
				t.Fatalf("chunk %d again: %x, first %x", i, again[i].ID[:4], slots[i].ID[:4])
			}
		}
	}
	submitAgain(false, held)
	submitAgain(true, held)
	close(release)
	tree, err := w.Tree(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(store.Snapshot{Tree: tree, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if got := w.NewBlobs(); got != k+1 {
		t.Fatalf("%d blobs stored, want %d chunks and the tree", got, k+1)
	}
	submitAgain(false, k+1) // now found in the store's index

}
