package restore

import (
	"bytes"
	"errors"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/store"
)

// countingFile is an in-memory file that counts writes.
type countingFile struct {
	b      []byte
	writes int
}

func (f *countingFile) WriteAt(p []byte, off int64) (int, error) {
	f.writes++
	if need := int(off) + len(p); need > len(f.b) {
		f.b = append(f.b, make([]byte, need-len(f.b))...)
	}
	return copy(f.b[off:], p), nil
}

// placeMap places chunks as a map says; every reference states a page
// (4096 bytes), and batchOf's ids count positions from 1.
type placeMap map[crypt.ID][]int64

func (m placeMap) AtNext(id crypt.ID, _ int, buf []int64) ([]int64, int) {
	return append(buf, m[id]...), int(id[0])
}

func (m placeMap) Len(int) uint32 { return 4096 }

// batchOf makes a batch of the given blobs, back to back.
func batchOf(blobs ...[]byte) *store.Batch {
	b := &store.Batch{}
	for i, p := range blobs {
		b.Data = append(b.Data, p...)
		b.IDs = append(b.IDs, crypt.ID{byte(i + 1)})
		b.Ends = append(b.Ends, len(b.Data))
	}
	return b
}

// Blobs that follow each other in the batch and in the file are one
// write; a chunk the file holds twice lands at both places; a blob placed
// elsewhere starts a new run; a long run is cut into maxWrite pieces.
func TestWriteBatchCoalesces(t *testing.T) {
	page := func(c byte) []byte { return bytes.Repeat([]byte{c}, 4096) }
	b := batchOf(page('a'), page('b'), page('c'), page('d'), page('e'))
	// File: a b c _ e d ... and a again at the end: a,b,c one run; d out of
	// order; e then a run of its own before d.
	places := placeMap{
		{1}: {0, 6 * 4096},
		{2}: {4096},
		{3}: {2 * 4096},
		{4}: {5 * 4096},
		{5}: {4 * 4096},
	}
	f := &countingFile{}
	n, err := writeBatch(f, b, places)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Join([][]byte{page('a'), page('b'), page('c'), make([]byte, 4096), page('e'), page('d'), page('a')}, nil)
	if !bytes.Equal(f.b, want) {
		t.Fatal("the batch was not written where its blobs belong")
	}
	if n != 6*4096 {
		t.Fatalf("reported %d bytes written, want %d", n, 6*4096)
	}
	// a,b,c | a again | d | e: four writes.
	if f.writes != 4 {
		t.Fatalf("%d writes, want 4 (neighbours written together)", f.writes)
	}

	var long [][]byte
	at := placeMap{}
	for i := range 200 {
		long = append(long, page(byte(i)))
		at[crypt.ID{byte(i + 1)}] = []int64{int64(i) * 4096}
	}
	f = &countingFile{}
	if _, err := writeBatch(f, batchOf(long...), at); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.b, bytes.Join(long, nil)) {
		t.Fatal("a long run was not written in order")
	}
	if want := (200*4096 + maxWrite - 1) / maxWrite; f.writes != want {
		t.Fatalf("%d writes for a run of %d bytes, want %d of at most %d", f.writes, 200*4096, want, maxWrite)
	}

	if _, err := writeBatch(&countingFile{}, batchOf(page('x')), placeMap{}); err == nil {
		t.Fatal("a blob the file does not hold was written")
	}
}

// A blob whose length is not the one its file's list states is refused
// before it is written: the list's lengths place every other chunk.
func TestWriteBatchRefusesAnotherLength(t *testing.T) {
	short := bytes.Repeat([]byte{'s'}, 4000)
	f := &countingFile{}
	_, err := writeBatch(f, batchOf(short), placeMap{{1}: {0}})
	if !errors.Is(err, store.ErrIntegrity) || f.writes != 0 {
		t.Fatalf("a 4000-byte blob listed as 4096: %v after %d writes, want an integrity error and nothing written", err, f.writes)
	}
}
