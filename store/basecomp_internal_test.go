package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
)

// TestTrailerPagesOnBase: a delta with a page on a base is written as
// trailer version 5, naming the base through the dictionary table beside
// a dictionary; without one it stays version 4 (or 3), which chatsafe
// before bases reads. A version 4 trailer with compression 3, or a base
// that is not a data blob, is malformed.
func TestTrailerPagesOnBase(t *testing.T) {
	dict, base := crypt.ID{1}, crypt.ID{2}
	tr := &trailer{Dicts: []crypt.ID{dict, base}, Blobs: []blobEntry{
		{ID: crypt.ID{3}, Type: blobData, Comp: compZstdDict, Ref: 1, SealedLen: 100, RawLen: 4096},
		{ID: crypt.ID{4}, Type: blobData, Comp: compZstdBase, Ref: 2, Offset: 100, SealedLen: 60, RawLen: 4096},
	}}
	plain := tr.encode()
	if plain[0] != 5 {
		t.Fatalf("a delta with a page on a base is version %d, want 5", plain[0])
	}
	got, err := decodeTrailer(plain)
	if err != nil {
		t.Fatal(err)
	}
	gotBase, ok1 := got.dictOf(&got.Blobs[1])
	gotDict, ok0 := got.dictOf(&got.Blobs[0])
	if got.Blobs[1].Comp != compZstdBase || !ok1 || gotBase != base || !ok0 || gotDict != dict {
		t.Fatalf("decoded %+v, table %v", got.Blobs, got.Dicts)
	}

	tr.Blobs = tr.Blobs[:1]
	if v := tr.encode()[0]; v != 4 {
		t.Fatalf("a delta with dictionary pages only is version %d, want 4", v)
	}

	// Version 4 with compression 3: the entry is as version 5 writes it.
	old := bytesCopy(plain)
	old[0] = 4
	if _, err := decodeTrailer(old); !errors.Is(err, errMalformed) {
		t.Fatalf("version 4 trailer with a page on a base: %v, want malformed", err)
	}
	tr.Blobs = []blobEntry{{ID: crypt.ID{4}, Type: blobList, Comp: compZstdBase, Ref: 2, SealedLen: 60, RawLen: 4096}}
	if _, err := decodeTrailer(tr.encode()); !errors.Is(err, errMalformed) {
		t.Fatalf("a list on a base: %v, want malformed", err)
	}
}

func bytesCopy(b []byte) []byte { return append([]byte(nil), b...) }

// TestCodecsOnBase: the pooled codecs give back what they were given
// whatever base each use installs, and a payload opened on the wrong base
// does not come back as the page.
func TestCodecsOnBase(t *testing.T) {
	page := func(seed byte) []byte {
		p := make([]byte, 4096)
		for i := range p {
			p[i] = byte(i/7) ^ seed
		}
		return p
	}
	for i := range 20 {
		base, plain := page(byte(i)), page(byte(i))
		copy(plain[100:], "an edited message")
		id := crypt.ID{byte(i), 1}
		c, err := compressOnBase(id, base, plain)
		if err != nil {
			t.Fatal(err)
		}
		if len(c) > 200 {
			t.Fatalf("a page that differs from its base in 17 bytes compressed to %d", len(c))
		}
		out, err := (*Store)(nil).decompressOnBase(id, base, c, nil, uint32(len(plain)))
		if err != nil || string(out) != string(plain) {
			t.Fatalf("round %d: %v", i, err)
		}
		// Decoding stops at the length the page's entry states.
		if out, err := (*Store)(nil).decompressOnBase(id, base, c, nil, uint32(len(plain)-1)); err == nil {
			t.Fatalf("round %d: a page stated a byte shorter decompressed to %d bytes", i, len(out))
		}
		if out, err := (*Store)(nil).decompressOnBase(id, page(byte(i+1)), c, nil, uint32(len(plain))); err == nil && string(out) == string(plain) {
			t.Fatalf("round %d: opened on another base, it came back as the page", i)
		}
	}
}

// TestDeltaOfPagesOnBasesFitsTrailerCap: a delta of nothing but pages on
// bases (each base a 32-byte entry of the trailer's table besides the
// page's index entry) is cut before its trailer would pass the readers'
// cap, not only at maxDeltaBlobs blobs.
func TestDeltaOfPagesOnBasesFitsTrailerCap(t *testing.T) {
	w := &deltaWriter{w: bufio.NewWriter(io.Discard)}
	sealed := make([]byte, 60) // a page that changed in a few bytes
	n := 0
	for ; !w.fullN(4096, 1, 1<<40); n++ {
		var id, base crypt.ID
		binary.LittleEndian.PutUint64(id[:], uint64(n))
		binary.LittleEndian.PutUint64(base[:], uint64(n))
		base[31] = 1
		if err := w.appendLocked(&blobEntry{ID: id, Type: blobData, Comp: compZstdBase, RawLen: 4096}, &base, sealed, false, -1); err != nil {
			t.Fatal(err)
		}
	}
	tr := &trailer{Blobs: w.blobs, Dicts: w.table}
	if size := len(tr.encode()) + crypt.Overhead; size > maxTrailerSize-trailerSlack {
		t.Fatalf("a delta of %d pages on bases has a %d-byte trailer, past the readers' cap of %d (less %d for the rest of the trailer)", n, size, maxTrailerSize, trailerSlack)
	}
}

// TestHostileBases: an index naming, for a page on a base, a base the
// repository does not hold, a base that is itself on a base (a loop), or
// a base larger than a page is an integrity error naming both blobs,
// before anything is read; so is a page on a base larger than a page. A
// fetch's pre-pass leaves such bases to that error.
func TestHostileBases(t *testing.T) {
	a, b, c, missing := crypt.ID{0xa}, crypt.ID{0xb}, crypt.ID{0xc}, crypt.ID{0xd}
	// The table: b, a, missing, c (Ref 1 to 4).
	d := &delta{ref: deltaRef{Seq: 7}, trailer: &trailer{Dicts: []crypt.ID{b, a, missing, c}, Blobs: []blobEntry{
		// a and b are on each other; c is too large to be a base.
		{ID: a, Type: blobData, Comp: compZstdBase, Ref: 1, RawLen: 4096},
		{ID: b, Type: blobData, Comp: compZstdBase, Ref: 2, RawLen: 4096},
		{ID: c, Type: blobData, Comp: compZstd, RawLen: maxBaseBlob + 1},
	}}}
	r := &Store{index: newBlobIndex()}
	r.index.add(d)
	cases := []struct {
		name string
		e    blobEntry
		base crypt.ID
	}{
		{"missing base", blobEntry{ID: crypt.ID{1}, Type: blobData, Comp: compZstdBase, Ref: 3, RawLen: 4096}, missing},
		{"looping base", blobEntry{ID: crypt.ID{2}, Type: blobData, Comp: compZstdBase, Ref: 2, RawLen: 4096}, a},
		{"oversized base", blobEntry{ID: crypt.ID{3}, Type: blobData, Comp: compZstdBase, Ref: 4, RawLen: 4096}, c},
		{"oversized page", blobEntry{ID: crypt.ID{4}, Type: blobData, Comp: compZstdBase, Ref: 4, RawLen: maxBaseBlob + 1}, crypt.ID{4}},
	}
	for _, tc := range cases {
		_, err := r.openOnBase(t.Context(), blobLoc{d, &tc.e}, []byte{1, 2, 3}, nil)
		if !errors.Is(err, ErrIntegrity) || !strings.Contains(err.Error(), tc.base.String()) {
			t.Errorf("%s: %v, want an integrity error naming %s", tc.name, err, tc.base)
		}
	}
	if ws := r.baseWindows(t.Context(), idSlice{a, b}); ws != nil {
		t.Errorf("the pre-pass would fetch bases that are on a base: %+v", ws)
	}
}
