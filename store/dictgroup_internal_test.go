package store

import (
	"bytes"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
)

// TestDictionaryRetrainedOnGroups: the retrain check compares like with
// like. Pages of another vocabulary, each of which alone compresses to
// twice the dictionary's ratio, make a new generation when they come in
// groups too, though a group of them (16 pages in one frame, finding
// each other's words) compresses almost as well as the dictionary's own
// pages; pages like the dictionary's, in groups, make none.
func TestDictionaryRetrainedOnGroups(t *testing.T) {
	r := dictTestStore(t)
	w, err := r.newDeltaWriter(1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.abort()
	var sealBuf, scratch []byte
	for _, p := range textPages(1, 300, dictSample) {
		if err := r.sealNew(sealJob{w: w, id: r.ids.Sum(p), typ: blobData}, p, &sealBuf, &scratch); err != nil {
			t.Fatal(err)
		}
	}
	first := r.dicts.cur
	if first == nil || first.gen != 1 {
		t.Fatalf("no first dictionary: %+v", first)
	}
	inGroups := func(pages [][]byte) {
		t.Helper()
		for len(pages) > 0 {
			n := min(groupPages, len(pages))
			buf := bytes.Join(pages[:n], nil)
			lens := make([]int, n)
			slots := make([]*ChunkRef, n)
			for i := range n {
				lens[i], slots[i] = len(pages[i]), new(ChunkRef)
			}
			j := sealJob{w: w, buf: &buf, lens: lens, slots: slots, claim: func(*deltaWriter, crypt.ID) bool { return true }}
			if _, _, err := r.sealRun(j, &sealBuf, &scratch); err != nil {
				t.Fatal(err)
			}
			pages = pages[n:]
		}
	}
	groups := func() (n int) {
		for _, e := range w.blobs {
			if e.Type == blobGroup && e.Comp == compZstdDict {
				n++
			}
		}
		return n
	}
	// Pages like the dictionary's, a few windows of them, in groups.
	inGroups(textPages(1, 300, 3*dictWindow/4096)[dictSample:])
	if r.dicts.cur != first || groups() == 0 {
		t.Fatalf("after pages like its own, in groups (%d): generation %d, want 1", groups(), r.dicts.cur.gen)
	}
	b := textPages(2, 300, 2*dictWindow/4096)
	if alone, grouped := dictRatio(first, b[:groupPages]), groupRatio(t, first, b[:groupPages]); alone < 2*first.ratio || grouped > first.ratio*5/4 {
		t.Fatalf("the test needs pages twice the dictionary's ratio alone (%d of %d) and under a quarter more in a group (%d)", alone, first.ratio, grouped)
	}
	inGroups(b)
	if r.dicts.cur.gen != 2 {
		t.Fatalf("after two windows of unlike pages in groups: generation %d, want 2", r.dicts.cur.gen)
	}
}

// groupRatio is the per mille of plain size pages compress to as one
// group with d.
func groupRatio(t *testing.T, d *dictionary, pages [][]byte) uint32 {
	enc, err := d.groupEncoder()
	if err != nil {
		t.Fatal(err)
	}
	g := bytes.Join(pages, nil)
	return uint32(len(enc.EncodeAll(g, nil)) * 1000 / len(g))
}
