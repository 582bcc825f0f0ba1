package store_test

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// A restore fetches each file's blobs with its own FetchBlobs call:
// thousands of calls. Each used to grow fresh buffers for what it opened
// and decompressed, so the collector ran far more often under the
// binary's soft memory limit than the data needed. Calls after the first
// reuse them: what a call allocates is small beside what it returns.
func TestFetchBlobsReusesBuffersAcrossCalls(t *testing.T) {
	r, _ := storetest.NewStore(t)
	w, err := r.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	var refs []store.ChunkRef
	for range 8 {
		b := make([]byte, 200<<10)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		refs = append(refs, storeChunk(t, w, b, true))
	}
	commitOneFile(t, w, 2, "VID.mp4", refs)
	var size int64
	ids := make([]crypt.ID, len(refs))
	for i, ref := range refs {
		ids[i] = ref.ID
		size += int64(ref.Len)
	}
	fetch := func() {
		var got sync.Map
		if err := r.FetchBlobs(t.Context(), ids, func(id crypt.ID, plain []byte) error {
			got.Store(id, len(plain))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	fetch() // the first call may make the buffers
	const calls = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range calls {
		fetch()
	}
	runtime.ReadMemStats(&after)
	perCall := (after.TotalAlloc - before.TotalAlloc) / calls
	if perCall > uint64(size)/8 {
		t.Errorf("each FetchBlobs call allocated %d KiB to return %d KiB", perCall>>10, size>>10)
	}
}
