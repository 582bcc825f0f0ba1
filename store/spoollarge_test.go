package store_test

import (
	"bytes"
	"sync"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// TestLargeDeltaReadsBack: a delta of many spool writes (more than 8
// MiB), with blobs of odd sizes so that none is aligned, reads back blob
// for blob once it is on the remote.
func TestLargeDeltaReadsBack(t *testing.T) {
	r, _ := storetest.NewStore(t)
	w, err := r.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	want := map[crypt.ID][]byte{}
	var refs []store.ChunkRef
	for i := range 48 {
		b := storetest.RandBytes(uint64(i)+1, 200<<10+i*997)
		ref := storeChunk(t, w, b, true)
		want[ref.ID] = b
		refs = append(refs, ref)
	}
	commitOneFile(t, w, 3, "VID.mp4", refs)
	if _, err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if p := r.Pending(); len(p) != 0 {
		t.Fatalf("%d deltas still in the spool after the sync", len(p))
	}
	ids := make([]crypt.ID, 0, len(refs))
	for _, ref := range refs {
		ids = append(ids, ref.ID)
	}
	var mu sync.Mutex
	got := 0
	if err := r.FetchBlobs(t.Context(), ids, func(id crypt.ID, plain []byte) error {
		if !bytes.Equal(plain, want[id]) {
			t.Errorf("blob %s reads back different", id)
		}
		mu.Lock()
		got++
		mu.Unlock()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got != len(ids) {
		t.Fatalf("%d of %d blobs read back", got, len(ids))
	}
}
