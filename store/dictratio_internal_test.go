package store

import (
	"runtime"
	"testing"
)

// TestCandidateRatio: a dictionary being made is measured with an encoder
// of one state: the same ratio as its own encoder gives, with its tables
// built from the dictionary once, not once per state its own encoder
// holds (one per core) as calls one after another take turns among them.
func TestCandidateRatio(t *testing.T) {
	pages := textPages(1, 300, dictSample)
	candidate := func() (*dictionary, [][]byte) {
		var content []byte
		var held [][]byte
		for i, p := range pages {
			if i%5 == 4 {
				held = append(held, p)
			} else {
				content = append(content, p...)
			}
		}
		return &dictionary{gen: 1, kind: dictKindRaw, content: content}, held
	}
	d, held := candidate()
	want := dictRatio(d, held)
	if got := candidateRatio(d, held); got != want || want >= 1000 {
		t.Fatalf("candidateRatio %d per mille, dictRatio %d: want the same, under 1000", got, want)
	}
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("one core: the dictionary's own encoder has one state too")
	}
	allocated := func(ratio func(*dictionary, [][]byte) uint32) uint64 {
		d, held := candidate() // a fresh candidate: nothing built yet
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ratio(d, held)
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	one, own := allocated(candidateRatio), allocated(dictRatio)
	if one*3 > own*2 {
		t.Errorf("measuring a candidate allocated %d bytes, its own encoder %d: want at most two thirds (one state's tables, not one per core)", one, own)
	}
	t.Logf("one state %d bytes, the dictionary's own encoder %d", one, own)
}
