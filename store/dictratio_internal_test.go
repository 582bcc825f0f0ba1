package store

import (
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestCandidateRatio: a dictionary being made is measured by dictRatio,
// with its bulk-level encoder of one state (encoderStates): the ratio an
// encoder of one state made for it gives, its tables built from the
// dictionary once, where an encoder of two states would build them twice
// as calls one after another take turns between its states.
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
	// states makes an encoder of n states for the measure.
	states := func(n int) func(*dictionary, [][]byte) uint32 {
		return func(d *dictionary, held [][]byte) uint32 {
			enc, err := zstd.NewWriter(nil, append(d.encoderOptions(dictBulkLevel), zstd.WithEncoderConcurrency(n))...)
			if err != nil {
				t.Fatal(err)
			}
			defer enc.Close()
			return encodedRatio(enc, held)
		}
	}
	d, held := candidate()
	want := states(1)(d, held)
	if got := dictRatio(d, held); got != want || want >= 1000 {
		t.Fatalf("dictRatio of a candidate %d per mille, an encoder of one state made for it %d: want the same, under 1000", got, want)
	}
	allocated := func(ratio func(*dictionary, [][]byte) uint32) uint64 {
		d, held := candidate() // a fresh candidate: nothing built yet
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ratio(d, held)
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	one, own, two := allocated(states(1)), allocated(dictRatio), allocated(states(2))
	for name, got := range map[string]uint64{"an encoder of one state": one, "the dictionary's own encoder": own} {
		if got*3 > two*2 {
			t.Errorf("%s allocated %d bytes, an encoder of two states %d: want at most two thirds (one state's tables)", name, got, two)
		}
	}
	t.Logf("one state %d bytes, the dictionary's own encoder %d, two states %d", one, own, two)
}
