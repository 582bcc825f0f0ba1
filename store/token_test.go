package store_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

func pageRefs(rng *rand.Rand, n int) []store.ChunkRef {
	refs := make([]store.ChunkRef, n)
	for i := range refs {
		refs[i] = pageRef(rng)
	}
	return refs
}

func pageRef(rng *rand.Rand) store.ChunkRef {
	r := store.ChunkRef{Len: 4096}
	for j := range r.ID {
		r.ID[j] = byte(rng.UintN(256))
	}
	return r
}

// TestFileTokenVersions: a database's token, version after version of a
// page or two changed (past the patch chain's limit, where the lists are
// rewritten), gives back each version's references, from the memo and
// decoded afresh; a token grows by the change, not by the database.
func TestFileTokenVersions(t *testing.T) {
	r, _ := storetest.NewStore(t)
	w, err := r.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	refs := pageRefs(rng, 20000) // a token of ~700 KB: the memo keeps it
	_, tok, err := w.FileContent(store.RefsOf(refs), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	small := 0
	for v := range store.MaxPatchChain + 5 {
		next := slices.Clone(refs)
		next[rng.IntN(len(next))] = pageRef(rng)
		if v%4 == 0 {
			next = append(next, pageRef(rng))
		}
		prev := bytes.Clone(tok) // as the file cache keeps it
		_, ntok, err := w.FileContent(store.RefsOf(next), int64(v), prev)
		if err != nil {
			t.Fatal(err)
		}
		if len(ntok)-len(prev) < 1000 {
			small++
		}
		gotList, err := w.ChunkRefs(bytes.Clone(ntok))
		got := gotList.Slice()
		if err != nil || !slices.Equal(got, next) {
			t.Fatalf("version %d: ChunkRefs gives %d refs (%v), want the %d written", v, len(got), err, len(next))
		}
		if _, size, err := w.Unchanged(bytes.Clone(ntok)); err != nil || size != int64(v) {
			t.Fatalf("version %d: Unchanged gives size %d, %v", v, size, err)
		}
		refs, tok = next, ntok
	}
	if small < store.MaxPatchChain-1 {
		t.Fatalf("only %d of %d one-page versions grew the token by less than 1000 bytes", small, store.MaxPatchChain+5)
	}
	// Three other databases push the token out of the memo: it decodes.
	for range 3 {
		if _, _, err := w.FileContent(store.RefsOf(pageRefs(rng, 20000)), 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := w.ChunkRefs(tok); err != nil || !slices.Equal(got.Slice(), refs) {
		t.Fatalf("decoded afresh: %d refs (%v), want %d", got.Len(), err, len(refs))
	}
}

// TestFileTokenSameVersion: a version with the same references (a file
// read again unchanged) keeps its token as it is: the token must not grow
// by an empty amendment each time.
func TestFileTokenSameVersion(t *testing.T) {
	r, _ := storetest.NewStore(t)
	w, err := r.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rng := rand.New(rand.NewPCG(9, 10))
	refs := pageRefs(rng, 20000)
	_, tok, err := w.FileContent(store.RefsOf(refs), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	next := slices.Clone(refs)
	next[7] = pageRef(rng)
	if _, tok, err = w.FileContent(store.RefsOf(next), 1, bytes.Clone(tok)); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		_, again, err := w.FileContent(store.RefsOf(slices.Clone(next)), 1, bytes.Clone(tok))
		if err != nil {
			t.Fatal(err)
		}
		if len(again) != len(tok) {
			t.Fatalf("an unchanged version grew the token from %d to %d bytes", len(tok), len(again))
		}
		tok = again
	}
	if got, err := w.ChunkRefs(tok); err != nil || !slices.Equal(got.Slice(), next) {
		t.Fatalf("the kept token gives %d refs (%v), want %d", got.Len(), err, len(next))
	}
}

// TestFileTokenStaleOrForeign: a token whose lists the repository does not
// hold (never committed, or another repository's) is ErrStaleCache even
// while the memo holds it, and FileContent on it stores a full version.
func TestFileTokenStaleOrForeign(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	refs := pageRefs(rng, 20000)
	r, _ := storetest.NewStore(t)
	w, err := r.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	_, tok, err := w.FileContent(store.RefsOf(refs), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	refs2 := slices.Clone(refs)
	refs2[3] = pageRef(rng)
	_, tok2, err := w.FileContent(store.RefsOf(refs2), 1, bytes.Clone(tok))
	if err != nil {
		t.Fatal(err)
	}
	w.Close() // nothing committed: the lists and the patch are gone

	other, _ := storetest.NewStore(t)
	for name, st := range map[string]*store.Store{"uncommitted": r, "foreign": other} {
		w, err := st.NewWriter()
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range [][]byte{tok, tok2} {
			if _, err := w.ChunkRefs(tk); !errors.Is(err, store.ErrStaleCache) {
				t.Errorf("%s: ChunkRefs: %v, want ErrStaleCache", name, err)
			}
			if _, _, err := w.Unchanged(tk); !errors.Is(err, store.ErrStaleCache) {
				t.Errorf("%s: Unchanged: %v, want ErrStaleCache", name, err)
			}
		}
		refs3 := slices.Clone(refs2)
		refs3[5] = pageRef(rng)
		_, tok3, err := w.FileContent(store.RefsOf(refs3), 1, tok2)
		if err != nil {
			t.Fatal(err)
		}
		if len(tok3) > len(tok2) {
			t.Errorf("%s: a version on a stale token was stored as a patch (token %d bytes, stale one %d)", name, len(tok3), len(tok2))
		}
		if got, err := w.ChunkRefs(tok3); err != nil || !slices.Equal(got.Slice(), refs3) {
			t.Errorf("%s: the full version gives %d refs (%v)", name, got.Len(), err)
		}
		w.Close()
	}
}

// TestFileTokenMemoViews: the memo keeps a database's references as views
// of its token's bytes after FileContent, not the blocks they were built
// in; a version built on it (as a backup does: the unchanged pages
// carried, one page new) keeps the blocks it did not change as views too.
func TestFileTokenMemoViews(t *testing.T) {
	needViews(t)
	rng := rand.New(rand.NewPCG(21, 6))
	r, w, _, tok := memoFullVersion(t, rng)
	if views, copies := store.MemoViews(r); views != 79 || copies != 0 {
		t.Fatalf("after a full version the memo holds %d blocks as views of the token, %d elsewhere", views, copies)
	}
	for v := range 3 {
		base, err := w.ChunkRefs(tok)
		if err != nil {
			t.Fatal(err)
		}
		changed := 300 + 5000*v
		b := store.NewRefBuilder(base.Len()+1, nil)
		if _, ok := b.CarryRun(base, changed); !ok {
			t.Fatal("carry refused")
		}
		*b.Next() = pageRef(rng)
		if _, ok := b.CarryRun(base, base.Len()-changed-1); !ok {
			t.Fatal("carry refused")
		}
		*b.Next() = pageRef(rng) // the list grows
		want := b.List().Slice()
		if _, tok, err = w.FileContent(b.List(), int64(v), tok); err != nil {
			t.Fatal(err)
		}
		// Each version copies the block of its page and the last one.
		if views, copies := store.MemoViews(r); views != 79-(v+2) || copies != v+2 {
			t.Fatalf("version %d: the memo holds %d blocks as views of the token, %d elsewhere", v, views, copies)
		}
		if got, err := w.ChunkRefs(tok); err != nil || !slices.Equal(got.Slice(), want) {
			t.Fatalf("version %d: %d refs (%v), want %d", v, got.Len(), err, len(want))
		}
	}
}

// TestFileTokenMemoViewsAfterWholeRead: a version read whole (every
// reference written again, as after the app's TRUNCATE checkpoint) that
// changes one page is stored as a patch; its unchanged blocks must be the
// previous version's views, not the blocks it was built in, or the memo
// holds the references twice until the next full version.
func TestFileTokenMemoViewsAfterWholeRead(t *testing.T) {
	needViews(t)
	rng := rand.New(rand.NewPCG(21, 7))
	r, w, refs, tok := memoFullVersion(t, rng)
	var err error
	for v := range 2 {
		next := slices.Clone(refs)
		next[7000+v] = pageRef(rng)
		if v == 1 {
			next = append(next, pageRef(rng)) // the list grows: its last block changes
		}
		if _, tok, err = w.FileContent(store.RefsOf(next), int64(2+v), tok); err != nil {
			t.Fatal(err)
		}
		wantCopies := v + 1 // the changed page's block, and the grown last one
		if views, copies := store.MemoViews(r); views != 79-wantCopies || copies != wantCopies {
			t.Fatalf("version %d read whole: the memo holds %d blocks as views of the token, %d elsewhere; want %d and %d", v, views, copies, 79-wantCopies, wantCopies)
		}
		if got, err := w.ChunkRefs(tok); err != nil || !slices.Equal(got.Slice(), next) {
			t.Fatalf("version %d: %d refs (%v), want %d", v, got.Len(), err, len(next))
		}
		refs = next
	}
}

// TestFileTokenMemoViewsReadAgain: a version read again unchanged (every
// page delivered again into blocks of its own) keeps the previous
// version's token and its views, not the blocks it was read into.
func TestFileTokenMemoViewsReadAgain(t *testing.T) {
	needViews(t)
	r, w, refs, tok := memoFullVersion(t, rand.New(rand.NewPCG(21, 8)))
	_, again, err := w.FileContent(store.RefsOf(slices.Clone(refs)), 1, tok)
	if err != nil {
		t.Fatal(err)
	}
	if &again[0] != &tok[0] || len(again) != len(tok) {
		t.Fatal("a version read again unchanged got a token of its own")
	}
	if views, copies := store.MemoViews(r); views != 79 || copies != 0 {
		t.Fatalf("read again unchanged: the memo holds %d blocks as views of the token, %d elsewhere", views, copies)
	}
}

// memoFullVersion stores a full version of 20,000 page references (79
// blocks, the last one short) with a new store's writer, which the test
// ends, and returns the store, the writer, the references and the token.
func memoFullVersion(t *testing.T, rng *rand.Rand) (*store.Store, *store.Writer, []store.ChunkRef, []byte) {
	t.Helper()
	r, _ := storetest.NewStore(t)
	w, err := r.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	refs := pageRefs(rng, 20000)
	_, tok, err := w.FileContent(store.RefsOf(refs), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r, w, refs, tok
}

// needViews skips a test of views on a host where tokens' references
// are always copies (big-endian), not views of the token's bytes.
func needViews(t *testing.T) {
	if !store.ViewsOnThisHost() {
		t.Skip("references are copies, not views, on a big-endian host")
	}
}
