package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"unsafe"

	"github.com/chatsafe/chatsafe/crypt"
)

// encodeVarintToken is the token layout written before references were
// fixed-width (each one's length a uvarint): persisted file caches hold it.
func encodeVarintToken(t *fileToken) []byte {
	e := &encoder{}
	e.uvarint(uint64(t.size))
	encodeContent(e, &t.content)
	e.uvarint(uint64(t.patched))
	e.uvarint(uint64(t.refs.Len()))
	for _, blk := range t.refs.blocks {
		for _, r := range blk {
			encodeChunkRef(e, r)
		}
	}
	return e.b
}

// inBytes reports whether blk lies within p's bytes.
func inBytes(blk []ChunkRef, p []byte) bool {
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	a := uintptr(unsafe.Pointer(unsafe.SliceData(blk)))
	return len(blk) > 0 && a >= lo && a+uintptr(len(blk))*unsafe.Sizeof(ChunkRef{}) <= lo+uintptr(len(p))
}

// viewBlocks counts l's blocks that lie within p and those that do not,
// and fails t if a block within p could be appended to in place.
func viewBlocks(t *testing.T, l RefList, p []byte) (views, copies int) {
	t.Helper()
	for k, blk := range l.blocks {
		if !inBytes(blk, p) {
			copies++
			continue
		}
		views++
		if cap(blk) != len(blk) {
			t.Fatalf("block %d, a view of the token, has capacity %d for %d references", k, cap(blk), len(blk))
		}
	}
	return views, copies
}

// needViews skips a test of views on a big-endian host, where tokens'
// references are always copied (TestTokenBigEndianPaths tests that).
func needViews(t *testing.T) {
	if !littleEndian {
		t.Skip("references are copies, not views, on a big-endian host")
	}
}

func listToken(rng *rand.Rand, n int) *fileToken {
	return &fileToken{size: int64(n) * 4096, content: Content{Lists: []crypt.ID{{1}, {2}}}, refs: RefsOf(randomRefs(rng, n))}
}

// TestTokenRefsAreViews: a decoded token's references are its bytes, in
// blocks of refBlockLen, and equal what was encoded.
func TestTokenRefsAreViews(t *testing.T) {
	needViews(t)
	rng := rand.New(rand.NewPCG(21, 1))
	for _, n := range []int{17, 256, 3000} {
		tok := listToken(rng, n)
		p := tok.encode()
		got, err := decodeToken(p)
		if err != nil {
			t.Fatalf("%d references: %v", n, err)
		}
		if !slices.Equal(got.refs.Slice(), tok.refs.Slice()) {
			t.Fatalf("%d references decode to others", n)
		}
		if views, copies := viewBlocks(t, got.refs, p); copies != 0 || views != (n+refBlockLen-1)/refBlockLen {
			t.Errorf("%d references: %d blocks are views of the token, %d copies", n, views, copies)
		}
		for k, blk := range got.refs.blocks[:len(got.refs.blocks)-1] {
			if len(blk) != refBlockLen {
				t.Fatalf("%d references: block %d holds %d", n, k, len(blk))
			}
		}
	}
}

// TestTokenViewsAmended: amendments on a token (a changed reference, the
// list grown) give the right references; the blocks they leave alone stay
// views of the token's bytes.
func TestTokenViewsAmended(t *testing.T) {
	needViews(t)
	rng := rand.New(rand.NewPCG(21, 2))
	tok := listToken(rng, 3000)
	p := tok.encode()
	next := tok.refs.Slice()
	next[700] = randomRef(rng)                   // block 2
	next = append(next, randomRefs(rng, 100)...) // block 11 fills, 12 is new
	nt := &fileToken{size: 9, content: Content{Lists: tok.content.Lists, Patches: []crypt.ID{{3}}}, refs: RefsOf(next), patched: 101}
	np := nt.amend(p, diffOf(tok.refs.Slice(), next))
	got, err := decodeToken(np)
	if err != nil || !reflect.DeepEqual(got, nt) {
		t.Fatalf("amended token decodes to %d refs (%v), want %d", got.refs.Len(), err, len(next))
	}
	views, copies := viewBlocks(t, got.refs, np)
	if views != 10 || copies != 3 || inBytes(got.refs.blocks[2], np) {
		t.Errorf("%d blocks are views of the token, %d copies; want 10 and 3 (blocks 2, 11, 12)", views, copies)
	}
}

// TestTokenVarintLayout: tokens of the layout before (lengths as uvarints,
// no padding), with and without amendments, still decode.
func TestTokenVarintLayout(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 3))
	tok := listToken(rng, 1000)
	tok.patched = 3
	p := encodeVarintToken(tok)
	got, err := decodeToken(p)
	if err != nil || !reflect.DeepEqual(got, tok) {
		t.Fatalf("an old token decodes to %d refs, patched %d (%v)", got.refs.Len(), got.patched, err)
	}
	next := tok.refs.Slice()
	next[3], next[999] = randomRef(rng), randomRef(rng)
	next = append(next, randomRef(rng))
	diff := diffOf(tok.refs.Slice(), next)
	nt := &fileToken{size: 2, content: Content{Lists: tok.content.Lists, Patches: []crypt.ID{{4}}}, refs: RefsOf(next), patched: 3 + len(diff)}
	got, err = decodeToken(nt.amend(p, diff))
	if err != nil || !reflect.DeepEqual(got, nt) {
		t.Fatalf("an old token with an amendment decodes to %d refs (%v), want %d", got.refs.Len(), err, len(next))
	}
}

// TestTokenMisaligned: a token whose references are not aligned in memory
// (a copy at an odd address) decodes to copies of them.
func TestTokenMisaligned(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 4))
	tok := listToken(rng, 600)
	p := tok.encode()
	odd := append(make([]byte, 1, len(p)+1), p...)[1:]
	got, err := decodeToken(odd)
	if err != nil || !slices.Equal(got.refs.Slice(), tok.refs.Slice()) {
		t.Fatalf("a misaligned token decodes to %d refs (%v)", got.refs.Len(), err)
	}
	if views, _ := viewBlocks(t, got.refs, odd); views != 0 {
		t.Errorf("%d blocks of a misaligned token are views", views)
	}
}

// TestDecodeTokenAllocs: decoding a 1 GB database's token (260,000 pages)
// allocates the block headers, not a second copy of its references.
func TestDecodeTokenAllocs(t *testing.T) {
	needViews(t)
	const pages = 260000
	tok := listToken(rand.New(rand.NewPCG(21, 5)), pages)
	for _, r := range tok.refs.blocks {
		for i := range r {
			r[i].Len = 4096 // a page: a uvarint of two bytes before
		}
	}
	p := tok.encode()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, err := decodeToken(p)
	runtime.ReadMemStats(&after)
	if err != nil || got.refs.Len() != pages {
		t.Fatalf("%d refs (%v)", got.refs.Len(), err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("token %.2f bytes a page; decoding it allocated %d bytes (%.3f a page)",
		float64(len(p))/pages, alloc, float64(alloc)/pages)
	if alloc > 64<<10 {
		t.Errorf("decoding a token of %d pages allocated %d bytes", pages, alloc)
	}
}

// TestTokenFixedMark: the mark is a uvarint binary.Uvarint rejects, so an
// older chatsafe takes a token of this layout as stale.
func TestTokenFixedMark(t *testing.T) {
	if _, n := binary.Uvarint(fixedRefsMark[:]); n >= 0 {
		t.Fatalf("the mark reads as a uvarint of %d bytes", n)
	}
}

// TestTokenFixedDamaged: a token of this layout cut anywhere, with padding
// that is not zero or a length over 2 GiB, is stale, never a panic or a
// view past its bytes; misaligned (copied) as well as aligned (views).
func TestTokenFixedDamaged(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 8))
	stale := func(what string, p []byte) {
		t.Helper()
		odd := append(make([]byte, 1, len(p)+1), p...)[1:]
		for _, q := range [][]byte{p, odd} {
			if _, err := decodeToken(q); !errors.Is(err, ErrStaleCache) {
				t.Fatalf("%s: %v, want ErrStaleCache", what, err)
			}
		}
	}
	padded := 0
	for _, size := range []int64{1, 200, 40000, 1 << 22} { // one to four bytes
		tok := listToken(rng, 100)
		tok.size = size
		p, at := tok.encodeAt()
		if at%refAlign != 0 || at < 20 || at+100*refSize != len(p) {
			t.Fatalf("references at %d of %d bytes", at, len(p))
		}
		for n := range len(p) {
			stale(fmt.Sprintf("cut to %d of %d bytes", n, len(p)), p[:n])
		}
		if p[at-1] == 0 { // padding (the count, 100, is one byte 0x64)
			padded++
			q := bytes.Clone(p)
			q[at-1] = 1
			stale("padding not zero", q)
		}
		q := bytes.Clone(p)
		binary.LittleEndian.PutUint32(q[at+99*refSize+32:], 1<<31+1)
		stale("a length over 2 GiB", q)
		binary.LittleEndian.PutUint32(q[at+99*refSize+32:], 1<<31)
		if got, err := decodeToken(q); err != nil || got.refs.At(99).Len != 1<<31 {
			t.Fatalf("a length of 2 GiB: %v", err)
		}
	}
	if padded == 0 {
		t.Fatal("no token had padding")
	}
}

// TestTokenMemoAmendViews: a version amended into a new buffer has its
// unchanged blocks as views of that buffer, not of the one before, which
// they would keep alive beside it.
func TestTokenMemoAmendViews(t *testing.T) {
	needViews(t)
	rng := rand.New(rand.NewPCG(21, 9))
	t0 := listToken(rng, 4000) // 16 blocks
	p0, at := t0.encodeAt()
	t0.refs = viewsIn(p0, at, t0.refs)
	var m tokenMemo
	m.put(p0, t0, nil, false) // not the store's buffer: amended into a new one
	b := builderOn(t0.refs)
	ref := randomRef(rng)
	*b.Set(1000) = ref
	t1 := &fileToken{size: 2, content: Content{Lists: t0.content.Lists, Patches: []crypt.ID{{5}}}, refs: b.List(), patched: 1}
	p1 := m.amend(p0, t1.amendment([]patchEntry{{Index: 1000, Ref: ref}}), t1, t0)
	if unsafe.SliceData(p1) == unsafe.SliceData(p0) {
		t.Fatal("amended in place")
	}
	if views, copies := viewBlocks(t, t1.refs, p1); views != 15 || copies != 1 {
		t.Errorf("%d blocks are views of the new buffer, %d elsewhere; want 15 and 1", views, copies)
	}
	got, err := m.get(p1)
	if err != nil || got != t1 || t1.refs.At(1000) != ref || !slices.Equal(t1.refs.Slice()[:1000], t0.refs.Slice()[:1000]) {
		t.Fatalf("the memo gives %p (%v) for the amended token, want its version", got, err)
	}
}

// TestTokenBigEndianPaths: the layout a big-endian host writes field by
// field is the bytes a little-endian one copies from memory, and it
// decodes to copies of the references there.
func TestTokenBigEndianPaths(t *testing.T) {
	tok := listToken(rand.New(rand.NewPCG(21, 10)), 700)
	p := tok.encode()
	defer func(was bool) { littleEndian = was }(littleEndian)
	littleEndian = false
	if !bytes.Equal(tok.encode(), p) {
		t.Fatal("the portable encoding differs from the memory layout")
	}
	got, err := decodeToken(p)
	if err != nil || !slices.Equal(got.refs.Slice(), tok.refs.Slice()) {
		t.Fatalf("decoded on the portable path: %d refs (%v)", got.refs.Len(), err)
	}
	if views, _ := viewBlocks(t, got.refs, p); views != 0 {
		t.Errorf("%d blocks are views on a big-endian host", views)
	}
}

// TestTokenViewsShortened: a view cut shorter (an amendment that shrinks
// the list, a run carried over that ends inside a block) must not be
// appendable into the token's later references.
func TestTokenViewsShortened(t *testing.T) {
	needViews(t)
	rng := rand.New(rand.NewPCG(21, 9))
	tok := listToken(rng, 600)
	p := tok.encode()
	next := tok.refs.Slice()[:300] // block 0 whole, 44 of block 1
	nt := &fileToken{size: 3, content: Content{Lists: tok.content.Lists, Patches: []crypt.ID{{5}}}, refs: RefsOf(next), patched: 0}
	np := nt.amend(p, diffOf(tok.refs.Slice(), next))
	got, err := decodeToken(np)
	if err != nil || !slices.Equal(got.refs.Slice(), next) {
		t.Fatalf("a shrunk token decodes to %d refs (%v), want %d", got.refs.Len(), err, len(next))
	}
	if views, _ := viewBlocks(t, got.refs, np); views != 2 {
		t.Fatalf("%d blocks of the shrunk token are views of it, want 2", views)
	}
	dec, err := decodeToken(p) // views of p
	if err != nil {
		t.Fatal(err)
	}
	b := NewRefBuilder(300, nil)
	if _, ok := b.CarryRun(dec.refs, 300); !ok {
		t.Fatal("carry refused")
	}
	if views, _ := viewBlocks(t, b.List(), p); views != 2 {
		t.Fatalf("%d blocks carried over are views of the token, want 2", views)
	}
}
