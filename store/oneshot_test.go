package store_test

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// TestOneShotKeepsNoTokens: a one-shot writer's tokens, version after
// version (patches, then lists rewritten past the chain's limit), give
// back each version's references as a long-lived writer's do, and the
// store keeps none of them decoded; a long-lived writer keeps them.
func TestOneShotKeepsNoTokens(t *testing.T) {
	for _, oneShot := range []bool{true, false} {
		r, _ := storetest.NewStore(t)
		w, err := r.NewWriter()
		if err != nil {
			t.Fatal(err)
		}
		if oneShot {
			w.OneShot()
		}
		rng := rand.New(rand.NewPCG(7, 8))
		refs := pageRefs(rng, 20000) // ~700 KB: a memo would keep it
		_, tok, err := w.FileContent(store.RefsOf(refs), 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		for v := range store.MaxPatchChain + 3 {
			next := slices.Clone(refs)
			next[rng.IntN(len(next))] = pageRef(rng)
			prev := bytes.Clone(tok)
			_, ntok, err := w.FileContent(store.RefsOf(next), int64(v), prev)
			if err != nil {
				t.Fatal(err)
			}
			if v < store.MaxPatchChain-1 && len(ntok)-len(prev) > 4096 {
				t.Fatalf("one-shot %v, version %d: the token grew by %d bytes for one page", oneShot, v, len(ntok)-len(prev))
			}
			gotList, err := w.ChunkRefs(bytes.Clone(ntok))
			got := gotList.Slice()
			if err != nil || !slices.Equal(got, next) {
				t.Fatalf("one-shot %v, version %d: ChunkRefs gives %d refs (%v), want the %d written", oneShot, v, len(got), err, len(next))
			}
			refs, tok = next, ntok
		}
		if got := store.MemoTokens(r); (got == 0) != oneShot {
			t.Fatalf("one-shot %v: the store keeps %d tokens decoded", oneShot, got)
		}
		w.Close()
	}
}
