package store

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
	"unsafe"

	"github.com/chatsafe/chatsafe/crypt"
)

func randomRefs(rng *rand.Rand, n int) []ChunkRef {
	refs := make([]ChunkRef, n)
	for i := range refs {
		refs[i] = randomRef(rng)
	}
	return refs
}

func randomRef(rng *rand.Rand) ChunkRef {
	var r ChunkRef
	for j := range r.ID {
		r.ID[j] = byte(rng.UintN(256))
	}
	r.Len = 512 + rng.Uint32N(4096)
	return r
}

// diffOf is makeContent's patch: next's references that differ from prev's.
func diffOf(prev, next []ChunkRef) []patchEntry {
	diff := []patchEntry{}
	for i, ref := range next {
		if i >= len(prev) || prev[i] != ref {
			diff = append(diff, patchEntry{Index: i, Ref: ref})
		}
	}
	return diff
}

// TestTokenAmendments: a token amended version after version (pages
// changed, the list grown and shrunk) decodes to the last version, and
// costs bytes in proportion to the change.
func TestTokenAmendments(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	refs := randomRefs(rng, 3000)
	tok := &fileToken{size: 1, content: Content{Lists: []crypt.ID{{1}, {2}}}, refs: RefsOf(refs)}
	p := tok.encode()
	for v := range 12 {
		next := tok.refs.Slice()
		switch v % 3 {
		case 0:
			next[rng.IntN(len(next))] = randomRef(rng)
			next[rng.IntN(len(next))] = randomRef(rng)
		case 1:
			next = append(next, randomRef(rng), randomRef(rng), randomRef(rng))
		case 2:
			next = next[:len(next)-2]
			next[0] = randomRef(rng)
		}
		diff := diffOf(tok.refs.Slice(), next)
		c := tok.content
		c.Patches = append(append([]crypt.ID(nil), c.Patches...), crypt.ID{byte(10 + v)})
		nt := &fileToken{size: int64(v + 2), content: c, refs: RefsOf(next), patched: tok.patched + len(diff)}
		np := nt.amend(p, diff)
		if grew := len(np) - len(p); grew > 64+len(c.Patches)*33+len(diff)*40 {
			t.Fatalf("version %d: %d changed references grew the token by %d bytes", v, len(diff), grew)
		}
		got, err := decodeToken(np)
		if err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
		if !reflect.DeepEqual(got, nt) {
			t.Fatalf("version %d decodes to size %d, %d refs, patched %d, content %+v; want %d, %d, %d, %+v",
				v, got.size, got.refs.Len(), got.patched, got.content, nt.size, nt.refs.Len(), nt.patched, nt.content)
		}
		// The previous bytes are left as they were.
		if prevGot, err := decodeToken(p); err != nil || !reflect.DeepEqual(prevGot, tok) {
			t.Fatalf("version %d: amending changed the previous token: %v", v, err)
		}
		tok, p = nt, np
	}
	// Every truncation of an amended token is stale, never a panic or a
	// shorter list taken for the file's.
	base := len(p) - 300
	for n := base; n < len(p); n++ {
		if _, err := decodeToken(p[:n]); !errors.Is(err, ErrStaleCache) {
			t.Fatalf("token cut to %d of %d bytes: %v, want ErrStaleCache", n, len(p), err)
		}
	}
}

// TestTokenHostileAmendment: an amendment that points past the list, grows
// it without setting the new references, or amends inline content is
// stale.
func TestTokenHostileAmendment(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tok := &fileToken{size: 1, content: Content{Lists: []crypt.ID{{1}}}, refs: RefsOf(randomRefs(rng, 100))}
	p := tok.encode()
	ref := randomRef(rng)
	for name, amend := range map[string]func(e *encoder){
		"index past the end": func(e *encoder) {
			e.uvarint(100)
			e.uvarint(1)
			e.uvarint(100)
			e.raw(ref.ID[:])
			e.uvarint(uint64(ref.Len))
		},
		"growth left unset": func(e *encoder) {
			e.uvarint(101)
			e.uvarint(1)
			e.uvarint(5)
			e.raw(ref.ID[:])
			e.uvarint(uint64(ref.Len))
		},
		"growth past its entries": func(e *encoder) {
			e.uvarint(1 << 40)
			e.uvarint(0)
		},
		"a gap that wraps back": func(e *encoder) {
			// Grows by two, writes index 100, then a gap of 2^64-1 lands
			// on 100 again: 101 would be left unset.
			e.uvarint(102)
			e.uvarint(2)
			e.uvarint(100)
			e.raw(ref.ID[:])
			e.uvarint(uint64(ref.Len))
			e.uvarint(^uint64(0))
			e.raw(ref.ID[:])
			e.uvarint(uint64(ref.Len))
		},
	} {
		e := &encoder{b: append([]byte(nil), p...)}
		e.uvarint(2)
		encodeContent(e, &Content{Lists: []crypt.ID{{1}}, Patches: []crypt.ID{{2}}})
		e.uvarint(1)
		amend(e)
		if _, err := decodeToken(e.b); !errors.Is(err, ErrStaleCache) {
			t.Errorf("%s: %v, want ErrStaleCache", name, err)
		}
	}
	e := &encoder{b: append([]byte(nil), p...)}
	e.uvarint(2)
	encodeContent(e, &Content{Chunks: []ChunkRef{ref}})
	e.uvarint(0)
	e.uvarint(1)
	e.uvarint(0)
	if _, err := decodeToken(e.b); !errors.Is(err, ErrStaleCache) {
		t.Errorf("amendment to inline content: %v, want ErrStaleCache", err)
	}
}

// TestTokenMemoLookup: the memo finds a token by the slice it was given
// and by equal bytes elsewhere (a cache read back from disk), and never
// for other bytes of the same length.
func TestTokenMemoLookup(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tok := &fileToken{size: 1, content: Content{Lists: []crypt.ID{{1}}}, refs: RefsOf(randomRefs(rng, 4000))}
	p := tok.encode()
	if len(p) < memoMinToken {
		t.Fatalf("token of %d bytes is below the memo's minimum", len(p))
	}
	var m tokenMemo
	m.put(p, tok, nil, false)
	if got, err := m.get(p); err != nil || got != tok {
		t.Fatalf("the same slice: %p, %v; want the memo's token", got, err)
	}
	copied := append([]byte(nil), p...)
	if got, err := m.get(copied); err != nil || got != tok {
		t.Fatalf("equal bytes: %p, %v; want the memo's token", got, err)
	}
	other := append([]byte(nil), p...)
	other[len(other)-1] ^= 1
	if got, err := m.get(other); err == nil && got == tok {
		t.Fatal("other bytes of the same length gave the memo's token")
	}
}

// TestDiffRefs: the block-wise comparison finds exactly the references
// that differ, at block edges too, as the list grows and shrinks.
func TestDiffRefs(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	prev := randomRefs(rng, 1000)
	for _, tc := range []struct {
		name    string
		n       int
		changed []int
		lenOnly bool
	}{
		{"none", 1000, nil, false},
		{"block edges", 1000, []int{0, 255, 256, 511, 999}, false},
		{"one length", 1000, []int{700}, true},
		{"grown", 1300, []int{3}, false},
		{"shrunk", 600, []int{599}, false},
	} {
		next := make([]ChunkRef, tc.n)
		copy(next, prev)
		for i := len(prev); i < tc.n; i++ {
			next[i] = randomRef(rng)
		}
		for _, i := range tc.changed {
			if tc.lenOnly {
				next[i].Len++
			} else {
				next[i] = randomRef(rng)
			}
		}
		got, want := diffRefs(RefsOf(prev), RefsOf(next)), diffOf(prev, next)
		if !reflect.DeepEqual(append([]patchEntry{}, got...), want) {
			t.Errorf("%s: diff %v, want %v", tc.name, got, want)
		}
	}
}

// TestTokenAmendInPlace: the next version's token is appended in the
// previous one's buffer, and a second version made from the same
// previous one (a cycle that failed, done again) gets a buffer of its
// own: no byte of a token handed out is ever written again.
func TestTokenAmendInPlace(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	t0 := &fileToken{size: 1, content: Content{Lists: []crypt.ID{{1}}}, refs: RefsOf(randomRefs(rng, 4000))}
	p0 := t0.encode()
	var m tokenMemo
	m.put(p0, t0, nil, true)
	version := func(from *fileToken, i int) (*fileToken, []patchEntry) {
		refs := from.refs.Slice()
		refs[i] = randomRef(rng)
		c := from.content
		c.Patches = append(append([]crypt.ID(nil), from.content.Patches...), crypt.ID{byte(i)})
		return &fileToken{size: int64(i), content: c, refs: RefsOf(refs), patched: from.patched + 1}, []patchEntry{{Index: i, Ref: refs[i]}}
	}
	decodes := func(p []byte, want *fileToken) {
		t.Helper()
		got, err := decodeToken(p)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("token decodes to %+v (%v), want %+v", got, err, want)
		}
	}
	// The first amendment gets a buffer with room, the second is in place.
	t1, d1 := version(t0, 5)
	p1 := m.amend(p0, t1.amendment(d1), t1, t0)
	t2, d2 := version(t1, 6)
	p2 := m.amend(p1, t2.amendment(d2), t2, t1)
	if unsafe.SliceData(p2) != unsafe.SliceData(p1) {
		t.Fatal("the second amendment was not made in place")
	}
	decodes(p1, t1)
	decodes(p2, t2)
	// t2 again from t1 with another change: its own buffer; p2 intact.
	t2b, d2b := version(t1, 7)
	p2b := m.amend(p1, t2b.amendment(d2b), t2b, t1)
	if unsafe.SliceData(p2b) == unsafe.SliceData(p1) {
		t.Fatal("a second version from the same token was appended in place")
	}
	decodes(p2, t2)
	decodes(p2b, t2b)
	if got, err := m.get(p2); err != nil || !reflect.DeepEqual(got, t2) {
		t.Fatalf("the memo gives %+v (%v) for p2", got, err)
	}
}
