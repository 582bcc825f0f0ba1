package store

import (
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
)

// TestCompactionKeepsAGroupsPageOnce: after forks merge, page x can be
// stored twice, alone in one delta (the copy the index reads) and as a
// member of a group in another, kept whole because its other page y is
// read from it. A compaction of both deltas copies the group whole and
// so must not copy x's lone copy too, whichever delta it reads first.
func TestCompactionKeepsAGroupsPageOnce(t *testing.T) {
	x, y, gid := crypt.ID{1}, crypt.ID{2}, crypt.ID{3}
	grouped := &delta{ref: deltaRef{ID: [16]byte{1}, Seq: 1}, trailer: &trailer{Blobs: []blobEntry{
		{ID: gid, Type: blobGroup, SealedLen: 100, RawLen: 8192},
		{ID: x, Type: blobData, Comp: compGroup, Ref: 0, RawLen: 4096},
		{ID: y, Type: blobData, Comp: compGroup, Ref: 0, Offset: 4096, RawLen: 4096},
	}}}
	alone := &delta{ref: deltaRef{ID: [16]byte{2}, Seq: 2}, trailer: &trailer{Blobs: []blobEntry{
		{ID: x, Type: blobData, Comp: compZstd, Offset: 0, SealedLen: 50, RawLen: 4096},
	}}}
	used := map[crypt.ID]struct{}{x: {}, y: {}}
	for _, order := range [][]*delta{{alone, grouped}, {grouped, alone}} {
		r := dictTestStore(t)
		r.index.add(alone) // x is read from its lone copy
		r.index.add(grouped)
		if loc, _ := r.index.get(x); loc.d != alone {
			t.Fatal("the test needs x indexed alone")
		}
		rewrite := map[*delta]bool{alone: true, grouped: true}
		kept := r.keptGroupMembers(order, used)
		w, err := r.newDeltaWriter(3)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range order {
			blobs := d.trailer.Blobs
			for i := range blobs {
				e := &blobs[i]
				members, keep := r.compactKeeps(d, i, e, used, rewrite, kept, w)
				if !keep {
					continue
				}
				sealed := make([]byte, e.SealedLen)
				if e.Type == blobGroup {
					err = w.addGroupSealed(e, d.trailer, members, sealed)
				} else {
					err = w.addSealed(e, d.trailer, sealed)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		copies := map[crypt.ID]int{}
		for _, e := range w.blobs {
			copies[e.ID]++
		}
		w.abort()
		if copies[gid] != 1 || copies[x] != 1 || copies[y] != 1 {
			t.Errorf("compacting the delta of seq %d first: group %d, x %d, y %d copies; want one of each", order[0].ref.Seq, copies[gid], copies[x], copies[y])
		}
	}
}
