package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// batchStore commits chunks of text (compressed) and of random bytes
// (stored as they are), 3 MiB in all, and returns them by id in the
// order they were written.
func batchStore(t *testing.T) (*store.Store, []crypt.ID, map[crypt.ID][]byte) {
	t.Helper()
	r, _ := storetest.NewStore(t)
	ids, content := writeBatchBlobs(t, r)
	return r, ids, content
}

// writeBatchBlobs commits batchStore's chunks into r.
func writeBatchBlobs(t *testing.T, r *store.Store) ([]crypt.ID, map[crypt.ID][]byte) {
	t.Helper()
	w, err := r.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var ids []crypt.ID
	content := map[crypt.ID][]byte{}
	var refs []store.ChunkRef
	for i := range 48 {
		var b []byte
		if i%2 == 0 {
			b = bytes.Repeat(fmt.Appendf(nil, "page %03d of text ", i), 4096)[:64<<10]
		} else {
			b = storetest.RandBytes(uint64(i), 64<<10)
		}
		ref := storeChunk(t, w, b, false)
		ids = append(ids, ref.ID)
		content[ref.ID] = b
		refs = append(refs, ref)
	}
	commitOneFile(t, w, 1, "f", refs)
	return ids, content
}

// FetchBatches hands every distinct id over exactly once, in batches
// whose plaintexts lie back to back, compressed or not.
func TestFetchBatchesBackToBack(t *testing.T) {
	r, ids, content := batchStore(t)
	asked := append(append([]crypt.ID(nil), ids...), ids[3], ids[0]) // repeats are fetched once
	var mu sync.Mutex
	got := map[crypt.ID]int{}
	batches := 0
	err := r.FetchBatches(t.Context(), asked, func(b *store.Batch) error {
		if len(b.IDs) != len(b.Ends) || len(b.IDs) == 0 || b.Ends[len(b.Ends)-1] != len(b.Data) {
			return fmt.Errorf("batch of %d ids, %d ends, %d bytes", len(b.IDs), len(b.Ends), len(b.Data))
		}
		var want []byte
		for i, id := range b.IDs {
			if !bytes.Equal(b.Plain(i), content[id]) {
				return fmt.Errorf("blob %d of a batch is not what was written", i)
			}
			want = append(want, content[id]...)
		}
		if !bytes.Equal(b.Data, want) {
			return errors.New("a batch's data is not its blobs back to back")
		}
		mu.Lock()
		defer mu.Unlock()
		batches++
		for _, id := range b.IDs {
			got[id]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if got[id] != 1 {
			t.Fatalf("blob %s was handed over %d times, want once", id, got[id])
		}
	}
	// 3 MiB of plaintext does not fit one batch.
	if batches < 2 {
		t.Fatalf("%d batches for 3 MiB, want the plaintext cap to split it", batches)
	}
	if !store.FetchBudgetFree() {
		t.Fatal("a finished fetch kept part of the fetch budget")
	}
}

// A fetch that stops early, because the caller failed or because its
// context ended, gives its share of the process's fetch budget back:
// otherwise later restores would wait for ever.
func TestFetchBatchesReleasesBudgetOnError(t *testing.T) {
	r, ids, _ := batchStore(t)
	stop := errors.New("caller failed")
	for range 20 {
		err := r.FetchBatches(t.Context(), ids, func(*store.Batch) error { return stop })
		if !errors.Is(err, stop) {
			t.Fatalf("got %v, want the caller's error", err)
		}
	}
	// A context ended by the first batch: the fetch stops with its error
	// (unless the other openers had finished everything by then).
	cancelled := 0
	for range 20 {
		ctx, cancel := context.WithCancel(t.Context())
		var once sync.Once
		err := r.FetchBatches(ctx, ids, func(*store.Batch) error { once.Do(cancel); return nil })
		cancel()
		switch {
		case errors.Is(err, context.Canceled):
			cancelled++
		case err != nil:
			t.Fatalf("got %v, want the context's error or none", err)
		}
	}
	if cancelled == 0 {
		t.Fatal("no fetch stopped when its context ended")
	}
	if !store.FetchBudgetFree() {
		t.Fatal("failed fetches kept part of the fetch budget")
	}
}
