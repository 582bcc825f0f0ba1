package store

import (
	"hash/maphash"
	"iter"

	"github.com/chatsafe/chatsafe/crypt"
)

// blobIndex maps the id of every blob the live deltas hold to the copy
// reads use: the first one added, unless that one is on a base and a
// later one is not (two devices' deltas merged after a fork). It keeps no ids of its own: a slot
// names a delta and an entry of its trailer, whose id a lookup compares,
// so each id is stored once, in its trailer's entry. A Go map from the
// 32-byte id to a location cost 55–110 bytes per blob (48-byte slots,
// 7/16 to 7/8 full) and was, with the entries, most of what a large
// repository's live heap grows by (docs/benchmarks.md, "Peak RSS"); this
// one costs 12–24 (9 bytes a slot, at most three quarters of the slots
// used), and holds no pointer per blob for the collector to follow.
//
// Blobs are only ever added (a compaction or a reload builds a new
// index), so the table needs no deletion marks. Trailers' Blobs slices
// must not move once indexed, as blobLoc's entry pointers already assume.
type blobIndex struct {
	deltas []*delta // in the order added; a slot's d is 1 + a position here
	slotTable
	// groups locates groups by id, for lists that name runs of their
	// members (runlist.go): one slot a group, 1/16 of the pages' table.
	groups slotTable
	seed   maphash.Seed // random per index: ids a writer chose cannot pile up on one slot
}

// slotTable is an open-addressing table of entries, keyed by their ids.
type slotTable struct {
	tags  []uint8     // per slot: 0 free, else 1 + 8 bits of the id's hash
	slots []indexSlot // len(tags), a power of two; linear probing
	n     int         // slots used
}

// indexSlot locates one entry: trailer.Blobs[e] of deltas[d-1].
type indexSlot struct{ d, e uint32 }

// minIndexSlots is the table's size when the first blob is added.
const minIndexSlots = 64

func newBlobIndex() *blobIndex { return &blobIndex{seed: maphash.MakeSeed()} }

// Len counts the blobs indexed.
func (x *blobIndex) Len() int {
	if x == nil {
		return 0
	}
	return x.n
}

// hashTag returns where id's probe starts (before masking) and its tag.
func (x *blobIndex) hashTag(id *crypt.ID) (uint64, uint8) {
	h := maphash.Bytes(x.seed, id[:])
	return h, uint8(1 + (h>>56)%255)
}

func (x *blobIndex) entry(s indexSlot) (*delta, *blobEntry) {
	d := x.deltas[s.d-1]
	return d, &d.trailer.Blobs[s.e]
}

// get returns where blob id is stored. A nil index holds nothing.
func (x *blobIndex) get(id crypt.ID) (blobLoc, bool) {
	if x == nil {
		return blobLoc{}, false
	}
	s, ok := x.lookup(&x.slotTable, &id)
	if !ok {
		return blobLoc{}, false
	}
	d, e := x.entry(s)
	return blobLoc{d: d, entry: e}, true
}

// group returns where the first group indexed under id is, and its
// members.
func (x *blobIndex) group(id crypt.ID) (blobLoc, []blobEntry, bool) {
	if x == nil {
		return blobLoc{}, nil, false
	}
	s, ok := x.lookup(&x.groups, &id)
	if !ok {
		return blobLoc{}, nil, false
	}
	d, e := x.entry(s)
	return blobLoc{d: d, entry: e}, groupMembers(d.trailer.Blobs, int(s.e)), true
}

// memberOf returns the group id the copy of blob id that reads use is a
// member of, its position among the group's members and its length.
func (x *blobIndex) memberOf(id crypt.ID) (crypt.ID, int, uint32, bool) {
	if x == nil {
		return crypt.ID{}, 0, 0, false
	}
	s, ok := x.lookup(&x.slotTable, &id)
	if !ok {
		return crypt.ID{}, 0, 0, false
	}
	d, e := x.entry(s)
	if !e.isMember() {
		return crypt.ID{}, 0, 0, false
	}
	return d.trailer.Blobs[e.Ref].ID, int(s.e - e.Ref - 1), e.RawLen, true
}

func (x *blobIndex) lookup(t *slotTable, id *crypt.ID) (indexSlot, bool) {
	if t.n == 0 {
		return indexSlot{}, false
	}
	h, tag := x.hashTag(id)
	mask := uint64(len(t.tags) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch t.tags[i] {
		case 0:
			return indexSlot{}, false
		case tag:
			if _, e := x.entry(t.slots[i]); e.ID == *id {
				return t.slots[i], true
			}
		}
	}
}

// has reports whether blob id is indexed.
func (x *blobIndex) has(id crypt.ID) bool {
	_, ok := x.get(id)
	return ok
}

// at returns the entry blob id is read from, nil if none.
func (x *blobIndex) at(id crypt.ID) *blobEntry {
	loc, _ := x.get(id)
	return loc.entry
}

// add indexes every blob of d that is not indexed yet.
func (x *blobIndex) add(d *delta) {
	blobs := d.trailer.Blobs
	if len(blobs) == 0 {
		return
	}
	x.deltas = append(x.deltas, d)
	di := uint32(len(x.deltas))
	for i := range blobs {
		t := &x.slotTable
		if blobs[i].Type == blobGroup {
			t = &x.groups // a container: apart from the blobs (runlist.go)
		}
		x.insert(t, &blobs[i].ID, indexSlot{d: di, e: uint32(i)})
	}
}

// insert puts s in the table unless id is there already (see blobIndex
// for which copy stays).
func (x *blobIndex) insert(t *slotTable, id *crypt.ID, s indexSlot) {
	if (t.n+1)*4 > len(t.tags)*3 {
		x.grow(t)
	}
	h, tag := x.hashTag(id)
	mask := uint64(len(t.tags) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch t.tags[i] {
		case 0:
			t.tags[i], t.slots[i] = tag, s
			t.n++
			return
		case tag:
			if _, e := x.entry(t.slots[i]); e.ID == *id {
				// A copy on its own beats one on a base: only it can
				// be a base, and it reads without another blob.
				if e.Comp == compZstdBase {
					if _, ne := x.entry(s); ne.Comp != compZstdBase {
						t.slots[i] = s
					}
				}
				return
			}
		}
	}
}

// grow doubles the table and puts every slot in its new place.
func (x *blobIndex) grow(t *slotTable) {
	oldTags, oldSlots := t.tags, t.slots
	n := max(minIndexSlots, 2*len(oldTags))
	t.tags, t.slots = make([]uint8, n), make([]indexSlot, n)
	mask := uint64(n - 1)
	for j, tag := range oldTags {
		if tag == 0 {
			continue
		}
		_, e := x.entry(oldSlots[j])
		h, _ := x.hashTag(&e.ID)
		i := h & mask
		for t.tags[i] != 0 {
			i = (i + 1) & mask
		}
		t.tags[i], t.slots[i] = tag, oldSlots[j]
	}
}

// all yields every indexed blob's id and location, in no particular order.
func (x *blobIndex) all() iter.Seq2[crypt.ID, blobLoc] {
	return func(yield func(crypt.ID, blobLoc) bool) {
		for i, t := range x.tags {
			if t == 0 {
				continue
			}
			d, e := x.entry(x.slots[i])
			if !yield(e.ID, blobLoc{d: d, entry: e}) {
				return
			}
		}
	}
}
