package store

import (
	"math/rand/v2"
	"testing"
)

// TestRetrainCheckSampleDensity: the retrain check measures one page in
// every 64 whatever the group size, so a 1 MiB window of 4 KiB pages rests
// on four measured pages, not two. One odd page a window, placed where it
// is measured, that compresses to somewhat under twice the dictionary's
// ratio alone, must not start a retrain among pages like the
// dictionary's: it moves a window of four measured pages too little, and
// one of two would be enough.
func TestRetrainCheckSampleDensity(t *testing.T) {
	r, w := withFirstDict(t)
	first := r.dicts.cur
	if first == nil {
		t.Fatal("no dictionary")
	}
	// The sample's pages went alone and were counted page by page.
	r.dicts.winPlain, r.dicts.winComp = 0, 0

	const windows, perWindow = 8, dictWindow / 4096
	pages := textPages(1, 300, dictSample+windows*perWindow)[dictSample:]
	var measured [][]byte
	for i := 0; i < len(pages); i += ratioEveryPages {
		if i%perWindow != 0 {
			measured = append(measured, pages[i])
		}
	}
	like, R := int(dictRatio(first, measured)), int(first.ratio)
	// A window's ratio is the mean of its measured pages': with the odd
	// page (x) and three like ones (like) it is (3*like+x)/4, with one
	// like one (like+x)/2; the check starts a retrain over 5R/4.
	target := (5*R/2 - like + 5*R - 3*like) / 2
	odd, x := oddPage(first, pages[0], target)
	if four, two := (3*like+x)/4, (like+x)/2; four*100 > 5*R/4*97 || two*100 < 5*R/4*103 {
		t.Fatalf("the test needs an odd page that starts a retrain in a window of two measured pages and not of four: dictionary %d, like pages %d, odd page %d (want %d): windows of four %d, of two %d", R, like, x, target, four, two)
	}
	t.Logf("dictionary %d per mille, like pages %d, odd page %d", R, like, x)
	for i := 0; i < len(pages); i += perWindow {
		pages[i] = odd
	}
	before := len(w.blobs)
	sealInGroups(t, r, w, pages)
	alone := 0
	for _, e := range w.blobs[before:] {
		if e.Type == blobData && !e.isMember() {
			alone++
		}
	}
	if alone > 0 || r.dicts.sampling || r.dicts.cur != first {
		t.Errorf("%d MiB of like pages in groups of %d, one odd page a MiB: %d pages sealed alone for a retrain sample, sampling %v, generation %d (was %d)",
			windows, groupPages, alone, r.dicts.sampling, r.dicts.cur.gen, first.gen)
	}
}

// oddPage is page with a random prefix, as long as makes it compress with
// d closest to target per mille alone, and what it does.
func oddPage(d *dictionary, page []byte, target int) ([]byte, int) {
	rng := rand.New(rand.NewPCG(9, 9))
	noise := make([]byte, len(page))
	for k := range noise {
		noise[k] = byte(rng.Uint32())
	}
	var best []byte
	bestX := -1
	for n := 0; n <= len(page); n += 32 {
		p := append(append([]byte(nil), noise[:n]...), page[n:]...)
		x := int(dictRatio(d, [][]byte{p}))
		if bestX < 0 || abs(x-target) < abs(bestX-target) {
			best, bestX = p, x
		}
	}
	return best, bestX
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
