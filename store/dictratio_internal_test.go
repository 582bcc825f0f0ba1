package store

import (
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestCandidateRatio: a dictionary being made is measured with an encoder
// of one state, and so is the writer's dictionary (its bulk-level encoder
// runs one call at a time: encoderStates): the same ratio either way,
// each building its tables from the dictionary once, where an encoder of
// two states would build them twice as calls one after another take
// turns between its states.
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
	twoStates := func(d *dictionary, held [][]byte) uint32 {
		enc, err := zstd.NewWriter(nil, append(d.encoderOptions(dictBulkLevel), zstd.WithEncoderConcurrency(2))...)
		if err != nil {
			t.Fatal(err)
		}
		defer enc.Close()
		return encodedRatio(enc, held)
	}
	allocated := func(ratio func(*dictionary, [][]byte) uint32) uint64 {
		d, held := candidate() // a fresh candidate: nothing built yet
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ratio(d, held)
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	one, own, two := allocated(candidateRatio), allocated(dictRatio), allocated(twoStates)
	for name, got := range map[string]uint64{"a candidate's measure": one, "the dictionary's own encoder": own} {
		if got*3 > two*2 {
			t.Errorf("%s allocated %d bytes, an encoder of two states %d: want at most two thirds (one state's tables)", name, got, two)
		}
	}
	t.Logf("candidate %d bytes, the dictionary's own encoder %d, two states %d", one, own, two)
}
