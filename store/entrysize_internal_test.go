package store

import (
	"bufio"
	"io"
	"reflect"
	"strconv"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
)

// TestBlobEntryHoldsNoPointer: a trailer's Blobs are the largest part of
// a daemon's live heap (17.7 MB for a 10 GB tree at the former 64 bytes
// an entry, docs/benchmarks.md). An entry without a pointer keeps them out
// of every collection's marking and cannot keep a dictionary (its content
// and encoders) alive once the writer moved on; the dictionary's index
// sharing the member's field keeps an entry at 56 bytes.
func TestBlobEntryHoldsNoPointer(t *testing.T) {
	typ := reflect.TypeFor[blobEntry]()
	if f, ok := pointerField(typ); ok {
		t.Fatalf("blobEntry holds a pointer in %s", f)
	}
	if strconv.IntSize == 64 && typ.Size() != 56 {
		t.Fatalf("blobEntry is %d bytes, want 56", typ.Size())
	}
}

// pointerField names a field of typ the collector would scan.
func pointerField(typ reflect.Type) (string, bool) {
	switch typ.Kind() {
	case reflect.Struct:
		for i := range typ.NumField() {
			if f, ok := pointerField(typ.Field(i).Type); ok {
				return typ.Field(i).Name + "." + f, true
			}
		}
		return "", false
	case reflect.Array:
		return pointerField(typ.Elem())
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "", false
	}
	return typ.Kind().String(), true
}

// TestWriterRefusesEntryWithoutItsDictionary: an entry compressed with a
// dictionary or on a base must be given it (its Ref indexes the trailer
// it came from, not this one), and no other entry may be; a trailer
// naming none for such an entry would not decode.
func TestWriterRefusesEntryWithoutItsDictionary(t *testing.T) {
	w := &deltaWriter{w: bufio.NewWriter(io.Discard)}
	dict := crypt.ID{1}
	for _, tc := range []struct {
		comp compression
		dict *crypt.ID
		ok   bool
	}{
		{compZstdDict, nil, false},
		{compZstdBase, nil, false},
		{compZstd, &dict, false},
		{compZstd, nil, true},
		{compZstdDict, &dict, true},
		{compZstdDict, &dict, true},
		{compZstdBase, &dict, true},
		{compZstdBase, &dict, true},
	} {
		// A Ref from another trailer is not carried over.
		e := &blobEntry{ID: crypt.ID{byte(10 + len(w.blobs))}, Type: blobData, Comp: tc.comp, Ref: 7, RawLen: 4096}
		err := w.appendLocked(e, tc.dict, make([]byte, 40), false, -1)
		if (err == nil) != tc.ok {
			t.Fatalf("compression %d, dictionary given %v: %v", tc.comp, tc.dict != nil, err)
		}
	}
	// The dictionary is listed once, the base each time it is named.
	tr := &trailer{Blobs: w.blobs, Dicts: w.table}
	if len(tr.Blobs) != 5 || len(tr.Dicts) != 3 {
		t.Fatalf("appended %d entries naming a table of %d, want 5 and 3", len(tr.Blobs), len(tr.Dicts))
	}
	if e := &tr.Blobs[0]; e.Ref != 0 {
		t.Fatalf("an entry without a dictionary kept Ref %d", e.Ref)
	}
	for i := 1; i < len(tr.Blobs); i++ {
		if got, ok := tr.dictOf(&tr.Blobs[i]); !ok || got != dict {
			t.Fatalf("entry %d names %s (%v), want %s", i, got, ok, dict)
		}
	}
	// Encoded, the table holds the id once.
	got, err := decodeTrailer(tr.encode())
	if err != nil || len(got.Dicts) != 1 {
		t.Fatalf("decoded: %v, table %v", err, got.Dicts)
	}
}
