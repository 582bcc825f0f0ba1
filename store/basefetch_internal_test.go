package store

import (
	"encoding/binary"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
)

// A restore's window of a whole database's pages, on a few bases that are
// group members (the common case): splitting the window into the bases'
// group mates and the rest holds the mates and where they are, not a copy
// of the window's ids (32 bytes a page, 8 MB for a 1 GB database).
func TestBaseGroupMatesHoldsNoCopyOfTheWindow(t *testing.T) {
	const groups, pages = 4096, 4096 * groupPages
	r := &Store{index: newBlobIndex()}
	tr := &trailer{}
	ids := make(idSlice, 0, pages)
	for g := range groups {
		var gid crypt.ID
		binary.LittleEndian.PutUint32(gid[:], uint32(g))
		gid[31] = 1
		at := uint32(len(tr.Blobs))
		tr.Blobs = append(tr.Blobs, blobEntry{ID: gid, Type: blobGroup, Comp: compZstd, Offset: uint64(g) * 20000, SealedLen: 20000, RawLen: groupPages * 4096})
		for m := range groupPages {
			var id crypt.ID
			binary.LittleEndian.PutUint32(id[:], uint32(g*groupPages+m))
			tr.Blobs = append(tr.Blobs, blobEntry{ID: id, Type: blobData, Comp: compGroup, Ref: at, Offset: uint64(m) * 4096, RawLen: 4096})
			ids = append(ids, id)
		}
	}
	r.index.add(&delta{ref: deltaRef{Seq: 1}, trailer: tr})
	// Bases: a page of groups 3, 1000 and 4000; the window repeats a
	// mate and a page that is not one.
	baseGroups := []int{3, 1000, 4000}
	w := fetchWindow{ids: append(ids, ids[3*groupPages+5], ids[7])}
	for _, g := range baseGroups {
		w.bases = append(w.bases, ids[g*groupPages+2])
	}
	var mates []crypt.ID
	var rest blobIDs
	n := allocated(func() { mates, rest = r.baseGroupMates(w) })
	t.Logf("splitting a window of %d pages allocated %d bytes", w.ids.Len(), n)
	if n > 64<<10 {
		t.Errorf("splitting a window of %d pages allocated %d bytes, want at most 64 KiB (the mates, not a copy of the window)", w.ids.Len(), n)
	}
	mateIDs := map[crypt.ID]bool{}
	for _, g := range baseGroups {
		for _, id := range ids[g*groupPages : (g+1)*groupPages] {
			mateIDs[id] = true
		}
	}
	var wantMates, wantRest idSlice
	for i := range w.ids.Len() {
		if mateIDs[w.ids.At(i)] {
			wantMates = append(wantMates, w.ids.At(i))
		} else {
			wantRest = append(wantRest, w.ids.At(i))
		}
	}
	if len(mates) != len(wantMates) || rest.Len() != len(wantRest) {
		t.Fatalf("%d mates and %d others, want %d and %d", len(mates), rest.Len(), len(wantMates), len(wantRest))
	}
	for i := range mates {
		if mates[i] != wantMates[i] {
			t.Fatalf("mate %d is %s, want %s", i, mates[i], wantMates[i])
		}
	}
	for i := range len(wantRest) {
		if rest.At(i) != wantRest[i] {
			t.Fatalf("other %d is %s, want %s", i, rest.At(i), wantRest[i])
		}
	}
}
