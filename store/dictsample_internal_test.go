package store

import (
	"testing"
)

// TestDictSampleMakesTheDictionary: a writer without a dictionary makes
// one of the pages a source offers before their file, and compresses
// every page with it from the first, the sampled ones to almost nothing;
// once it has one it wants no more, and too small a sample is ignored.
func TestDictSampleMakesTheDictionary(t *testing.T) {
	r := dictTestStore(t)
	b := &Writer{r: r}
	if n := b.WantsDictSample(); n != dictSample {
		t.Fatalf("a writer without a dictionary wants %d pages, want %d", n, dictSample)
	}
	pages := textPages(5, 300, 400)
	b.DictSample(pages[:dictSample/2-1])
	if r.dicts.cur != nil {
		t.Fatalf("a sample of %d pages made a dictionary", dictSample/2-1)
	}
	spread := make([][]byte, 0, dictSample)
	for i := range dictSample {
		spread = append(spread, pages[i*len(pages)/dictSample])
	}
	b.DictSample(spread)
	d := r.dicts.cur
	if d == nil || d.gen != 1 || d.ratio == 0 || d.ratio >= 1000 {
		t.Fatalf("dictionary after a sample: %+v", d)
	}
	if n := b.WantsDictSample(); n != 0 {
		t.Fatalf("a writer with a good dictionary wants %d pages", n)
	}
	b.DictSample(textPages(6, 300, dictSample))
	if r.dicts.cur != d {
		t.Fatal("a second sample replaced a dictionary that does well")
	}
	w, err := r.newDeltaWriter(1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.abort()
	for i, p := range [][]byte{spread[0], pages[1]} {
		var buf, scratch []byte
		if err := r.sealNew(sealJob{w: w, id: r.ids.Sum(p), typ: blobData}, p, &buf, &scratch); err != nil {
			t.Fatal(err)
		}
		e := w.blobs[len(w.blobs)-1]
		if e.Comp != compZstdDict || e.Ref == 0 || w.table[e.Ref-1] != d.id {
			t.Fatalf("page %d was not compressed with the sample's dictionary: %+v", i, e)
		}
		if i == 0 && e.SealedLen > 200 {
			t.Fatalf("a page of the dictionary's content sealed to %d bytes", e.SealedLen)
		}
	}
}
