package store

import (
	"bytes"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
)

// TestDictionaryRetrainedOnGroups: the retrain check compares like with
// like. Pages of another vocabulary, each of which alone compresses to
// twice the dictionary's ratio, make a new generation when they come in
// groups too, though a group of them (groupPages in one frame, finding
// each other's words) compresses almost as well as the dictionary's own
// pages; pages like the dictionary's, in groups, make none.
func TestDictionaryRetrainedOnGroups(t *testing.T) {
	r, w := withFirstDict(t)
	first := r.dicts.cur
	if first == nil || first.gen != 1 {
		t.Fatalf("no first dictionary: %+v", first)
	}
	inGroups := func(pages [][]byte) { sealInGroups(t, r, w, pages) }
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

// withFirstDict returns a store and a delta writer (aborted at the test's
// end) whose first dictionary was made of dictSample text pages sealed
// alone.
func withFirstDict(t *testing.T) (*Store, *deltaWriter) {
	t.Helper()
	r := dictTestStore(t)
	w, err := r.newDeltaWriter(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.abort)
	sealAlone(t, r, w, textPages(1, 300, dictSample))
	return r, w
}

// sealAlone seals pages one by one into w, as sealNew does.
func sealAlone(t *testing.T, r *Store, w *deltaWriter, pages [][]byte) {
	t.Helper()
	var sealBuf, scratch []byte
	for _, p := range pages {
		if err := r.sealNew(sealJob{w: w, id: r.ids.Sum(p), typ: blobData}, p, &sealBuf, &scratch); err != nil {
			t.Fatal(err)
		}
	}
}

// sealInGroups seals pages into w in runs of groupPages, as the workers
// seal a run (sealRun).
func sealInGroups(t *testing.T, r *Store, w *deltaWriter, pages [][]byte) {
	t.Helper()
	var sealBuf, scratch []byte
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

// TestGroupRatioSampled: the retrain check measures one page in
// ratioEveryPages, by pages whatever the groups' size (each measurement is
// an encoder reset of its own), and the group measured stands for the
// pages skipped: the window counts the bytes of every group all the same.
func TestGroupRatioSampled(t *testing.T) {
	r, w := withFirstDict(t)
	if r.dicts.cur == nil {
		t.Fatal("no dictionary")
	}
	// The sample's pages went alone and were counted page by page.
	r.dicts.winPlain, r.dicts.winComp = 0, 0
	// Groups small enough that two measured ones do not fill a window.
	const n = 16
	every := ratioEveryPages / n
	if every < 2 || n > groupPages || 2*ratioEveryPages*4096 >= dictWindow {
		t.Fatalf("the test needs groups of %d to be sampled (one page in %d, groups up to %d, window %d)", n, ratioEveryPages, groupPages, dictWindow)
	}
	pages := textPages(1, 300, dictSample+(every+1)*n)[dictSample:]
	for k := range every + 1 {
		sealInGroups(t, r, w, pages[k*n:(k+1)*n])
		want := int64(ratioEveryPages * 4096) // the first group stands for 64 pages
		if k == every {
			want *= 2 // and the fifth for the next 64
		}
		if got := r.dicts.winPlain; got != want {
			t.Fatalf("after %d groups the window counts %d bytes, want %d", k+1, got, want)
		}
		if c := r.dicts.winComp; c <= 0 || c >= want {
			t.Fatalf("after %d groups the window counts %d compressed bytes of %d", k+1, c, want)
		}
	}
}
