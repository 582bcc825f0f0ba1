package store

import (
	"errors"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
)

// A blob sealed for an id whose plaintext does not hash to it (what a
// writer bug or a wrong decompression would give) authenticates, and is
// still refused: the keyed hash is checked after the seal, compressed or
// not (docs/format.md, "Why every blob is hashed again").
func TestOpenBlobChecksTheIdAfterTheSeal(t *testing.T) {
	r := dictTestStore(t)
	good := []byte("the page the id was computed over, repeated repeated repeated repeated")
	bad := []byte("another page sealed under that id by mistake, repeated repeated repeated")
	id := r.ids.Sum(good)
	enc, _ := zstdCodecs()
	for _, tc := range []struct {
		name string
		comp compression
		of   func([]byte) []byte
	}{
		{"stored", compNone, func(p []byte) []byte { return p }},
		{"compressed", compZstd, func(p []byte) []byte { return enc.EncodeAll(p, nil) }},
	} {
		open := func(plain []byte) ([]byte, error) {
			sealed := r.aead.Seal(nil, tc.of(plain), crypt.AssociatedData(adBlob, r.cfg.RepoID, id[:]))
			loc := blobLoc{d: &delta{}, entry: &blobEntry{ID: id, Type: blobData, Comp: tc.comp, SealedLen: uint32(len(sealed)), RawLen: uint32(len(plain))}}
			return r.openBlobAppend(t.Context(), loc, sealed, &openScratch{}, []byte("prefix"))
		}
		out, err := open(good)
		if err != nil || string(out) != "prefix"+string(good) {
			t.Fatalf("%s: the right page opened as %q, %v", tc.name, out, err)
		}
		if _, err := open(bad); !errors.Is(err, ErrIntegrity) {
			t.Fatalf("%s: a page that does not hash to its id opened: %v", tc.name, err)
		}
	}
}
