package store

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/chatsafe/chatsafe/crypt"
)

// bomb is a zstd frame of n zero bytes (a few hundred bytes compressed),
// with the frame content size in its header or, streamed, without it.
func bomb(t *testing.T, n int, withSize bool, opts ...zstd.EOption) []byte {
	t.Helper()
	if withSize {
		enc, err := zstd.NewWriter(nil, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return enc.EncodeAll(make([]byte, n), nil)
	}
	var b bytes.Buffer
	enc, err := zstd.NewWriter(&b, opts...)
	if err != nil {
		t.Fatal(err)
	}
	zero := make([]byte, 1<<20)
	for left := n; left > 0; left -= len(zero) {
		if _, err := enc.Write(zero[:min(left, len(zero))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestDecompressionStopsAtStatedLength: a blob sealed with our key (a
// buggy writer, or a key that leaked) whose frame inflates to 32 MiB,
// where its entry states 4 KiB (a page, on its own, or on a base) or 16
// KiB (a group), is refused
// as an integrity failure once the decoder passes the stated length, not
// after inflating it up to the 64 MiB blob limit: reading it allocates
// about what the entry states, whether or not the frame's header gives
// its size.
func TestDecompressionStopsAtStatedLength(t *testing.T) {
	r := dictTestStore(t)
	dict, err := parseDict(crypt.ID{1}, encodeDict(1, 500, dictKindRaw, bytes.Join(textPages(4, 500, 8), nil)))
	if err != nil {
		t.Fatal(err)
	}
	r.dicts.loaded = map[crypt.ID]*dictionary{dict.id: dict}
	// A page's previous version, a base (basecomp.go): in the index, and
	// in the context as a fetch of many blobs hands it over.
	baseID, base := crypt.ID{2}, textPages(5, 500, 1)[0]
	bd := &delta{trailer: &trailer{Blobs: []blobEntry{{ID: baseID, Type: blobData, Comp: compZstd, SealedLen: 100, RawLen: uint32(len(base))}}}}
	r.index.add(bd)
	ctx := context.WithValue(t.Context(), basesKey{}, fetchedBases{baseID: base})
	const inflated = 32 << 20
	for _, tc := range []struct {
		name   string
		typ    BlobType
		comp   compression
		rawLen uint32
		opts   []zstd.EOption
	}{
		{"page", blobData, compZstd, 4096, nil},
		{"group", blobGroup, compZstd, 16 << 10, nil},
		{"group on the dictionary", blobGroup, compZstdDict, 16 << 10,
			[]zstd.EOption{zstd.WithEncoderDictRaw(dict.zstdID(), dict.content)}},
		// A window the base decoder takes: the frame must fail at the
		// stated length, not at its header.
		{"page on a base", blobData, compZstdBase, 4096,
			[]zstd.EOption{zstd.WithEncoderDictRaw(baseZstdID(baseID), base), zstd.WithWindowSize(maxBaseBlob)}},
	} {
		for _, withSize := range []bool{true, false} {
			payload := bomb(t, inflated, withSize, tc.opts...)
			id := crypt.ID{9}
			sealed := r.aead.Seal(nil, payload, crypt.AssociatedData(adBlob, r.cfg.RepoID, id[:]))
			e := &blobEntry{ID: id, Type: tc.typ, Comp: tc.comp, SealedLen: uint32(len(sealed)), RawLen: tc.rawLen}
			var table []crypt.ID
			switch tc.comp {
			case compZstdDict:
				table, e.Ref = []crypt.ID{dict.id}, 1
			case compZstdBase:
				table, e.Ref = []crypt.ID{baseID}, 1
			}
			// A group's trailer lists its members after it (its errors name them).
			tr := &trailer{Dicts: table, Blobs: []blobEntry{*e, {ID: crypt.ID{10}, Type: blobData, Comp: compGroup, RawLen: tc.rawLen}}}
			loc := blobLoc{d: &delta{trailer: tr}, entry: &tr.Blobs[0]}
			open := func() error {
				if tc.typ == blobGroup {
					_, err := r.openGroup(ctx, loc, sealed, &openScratch{}, nil, nil)
					return err
				}
				_, err := r.openBlobAppend(ctx, loc, sealed, &openScratch{}, nil)
				return err
			}
			open() // the decoders' first use allocates their buffers
			var err error
			n := allocated(func() { err = open() })
			if !errors.Is(err, ErrIntegrity) {
				t.Errorf("%s (size in header %v): %v, want an integrity error", tc.name, withSize, err)
			}
			t.Logf("%s (size in header %v): %d bytes allocated (%v)", tc.name, withSize, n, err)
			if n > 2<<20 {
				t.Errorf("%s (size in header %v): reading a blob stated as %d bytes allocated %d bytes", tc.name, withSize, tc.rawLen, n)
			}
		}
	}
}
