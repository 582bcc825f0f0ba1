package store

import (
	"bytes"
	"slices"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
)

// TestRunSplitIntoGroups: a run of up to bulkGroupPages pages is sealed
// as groups of at most groupPages in a delta's first groupBulkAfter bytes
// of groups, never leaving a group of one page, and as one group past
// them; whatever the split, the run's reservation (runReservation,
// runEntries) is given back exactly, as a worker does with what sealRun
// returns.
func TestRunSplitIntoGroups(t *testing.T) {
	SetGroupBulkAfter(t, 4*groupPages*4096)
	r, w := withFirstDict(t)
	pages := textPages(1, 300, dictSample+6*bulkGroupPages)[dictSample:]
	skip := func(k int) func(*deltaWriter, crypt.ID) bool {
		held := r.ids.Sum(pages[k])
		return func(_ *deltaWriter, id crypt.ID) bool { return id != held }
	}
	cases := []struct {
		name  string
		run   [][]byte
		claim func(*deltaWriter, crypt.ID) bool
		want  []int // members of each group sealed, in order
	}{
		{"below the threshold", pages[:bulkGroupPages], nil, []int{groupPages, groupPages}},
		{"one page held", pages[bulkGroupPages : 2*bulkGroupPages], skip(bulkGroupPages + 3), []int{groupPages, groupPages - 1}},
		{"33 pages", pages[2*bulkGroupPages : 2*bulkGroupPages+groupPages+1], nil, []int{17, 16}},
		{"past the threshold", pages[3*bulkGroupPages : 4*bulkGroupPages], nil, []int{bulkGroupPages}},
		{"past it, one page held", pages[4*bulkGroupPages : 5*bulkGroupPages], skip(4*bulkGroupPages + 9), []int{bulkGroupPages - 1}},
	}
	var sealBuf, scratch []byte
	for _, tc := range cases {
		if tc.claim == nil {
			tc.claim = func(*deltaWriter, crypt.ID) bool { return true }
		}
		before := len(w.blobs)
		buf := bytes.Join(tc.run, nil)
		lens := make([]int, len(tc.run))
		slots := make([]*ChunkRef, len(tc.run))
		for i := range tc.run {
			lens[i], slots[i] = len(tc.run[i]), new(ChunkRef)
		}
		if !w.reserveN(runReservation(len(buf), len(lens)), runEntries(len(lens)), 1<<40) {
			t.Fatalf("%s: no room for the run", tc.name)
		}
		j := sealJob{w: w, buf: &buf, lens: lens, slots: slots, claim: tc.claim}
		restPlain, restEntries, err := r.sealRun(j, &sealBuf, &scratch)
		if err != nil {
			t.Fatal(err)
		}
		// What the run gives back is never more than it reserved: a
		// negative rest would quietly hand back an entry a split used.
		if restEntries < 0 || restPlain < -crypt.Overhead {
			t.Fatalf("%s: the run gave back %d bytes and %d entries, more than it reserved", tc.name, restPlain, restEntries)
		}
		w.releaseN(restPlain, restEntries)
		if w.inflight != 0 || w.inflightN != 0 {
			t.Fatalf("%s: %d bytes and %d entries still reserved after the run", tc.name, w.inflight, w.inflightN)
		}
		var got []int
		for i := before; i < len(w.blobs); i++ {
			if w.blobs[i].Type == blobGroup {
				got = append(got, len(groupMembers(w.blobs, i)))
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Fatalf("%s: groups of %v pages, want %v", tc.name, got, tc.want)
		}
	}
}
