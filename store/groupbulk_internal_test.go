package store

import (
	"runtime"
	"testing"
)

// TestBulkEncoderGoesWithThePages: past the threshold a delta's groups
// take its own encoder at groupBulkLevel, and the dictionary lets its
// groupLevel encoder go (lone pages then take dictBulkLevel, so nothing
// makes it again); dropGroupBulk (EndPages, finish) lets the bulk encoder
// go, and the next group past the threshold makes a new one.
func TestBulkEncoderGoesWithThePages(t *testing.T) {
	SetGroupBulkAfter(t, 3*groupPages*4096)
	r, w := withFirstDict(t)
	d := r.dicts.cur
	pages := textPages(1, 300, dictSample+8*groupPages+1)[dictSample:]
	sealInGroups(t, r, w, pages[:2*groupPages])
	if w.bulk.enc != nil || d.encs[groupLevel].enc.Load() == nil {
		t.Fatal("below the threshold: a bulk encoder, or no groupLevel one")
	}
	sealInGroups(t, r, w, pages[2*groupPages:6*groupPages])
	bulk := w.bulk.enc
	if bulk == nil || w.bulk.d != d {
		t.Fatal("past the threshold: no bulk encoder for the dictionary")
	}
	if d.encs[groupLevel].enc.Load() != nil {
		t.Fatal("past the threshold the dictionary still holds its groupLevel encoder")
	}
	sealAlone(t, r, w, pages[8*groupPages:])
	if d.encs[dictLevel].enc.Load() != nil && dictLevel != dictBulkLevel {
		t.Fatal("a lone page past the threshold made the dictLevel encoder again")
	}
	w.dropGroupBulk()
	if w.bulk.enc != nil {
		t.Fatal("dropGroupBulk kept the bulk encoder")
	}
	sealInGroups(t, r, w, pages[6*groupPages:8*groupPages])
	if w.bulk.enc == nil || w.bulk.enc == bulk {
		t.Fatal("a group after dropGroupBulk did not make a new bulk encoder")
	}
	blobs := 0
	for _, e := range w.blobs {
		if e.Type == blobGroup {
			blobs++
		}
	}
	if blobs != 8 {
		t.Fatalf("%d groups sealed, want 8", blobs)
	}
}

// TestOneBulkEncoder: with Options.OneBulkEncoder the bulk encoder keeps
// one state's match tables, not one a core (~8 MiB each at groupBulkLevel
// once used), whatever the cores.
func TestOneBulkEncoder(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	old := groupBulkAfter
	groupBulkAfter = 0
	defer func() { groupBulkAfter = old }()
	made := func(one bool) uint64 {
		r, w := withFirstDict(t)
		r.opts.OneBulkEncoder = one
		w.dropGroupBulk()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		enc, err := w.groupEncoder(r.dicts.cur, 64<<10)
		if err != nil {
			t.Fatal(err)
		}
		enc.EncodeAll(textPages(3, 300, 1)[0], nil) // makes its states
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	perCore, one := made(false), made(true)
	t.Logf("bulk encoder made: %d bytes at 4 cores, %d with one state", perCore, one)
	// Each state beyond the first holds its own 4 MiB long table (and a
	// copy of it at the dictionary's state once it encodes).
	if perCore < one+3*(4<<20) {
		t.Fatalf("bulk encoder made with %d bytes at 4 cores and %d with one state: want three states' tables (12 MiB) fewer", perCore, one)
	}
}
