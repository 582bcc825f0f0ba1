package store

import (
	"hash/maphash"

	"github.com/chatsafe/chatsafe/crypt"
)

// claimSet is the set of blob ids a delta being written holds or will
// hold, which the writer's deduplication asks about for every chunk. It
// keeps no id of a blob already appended: a slot holds the blob's
// position in the delta's entries, whose id a lookup compares (as the
// store's blobIndex does with trailers), so an id costs 7–14 bytes here
// beside its entry. Only ids claimed and not yet appended (a sealing
// worker's blobs on their way) are kept whole, in a map that the
// pipeline's depth bounds. The Go map of ids it replaces cost ~60 bytes
// an id, ~9 MB for a delta of pages, two deltas at a time
// (docs/benchmarks.md, "Peak RSS, third round").
//
// The deltaWriter's mu guards it, with the entries it points into.
// Positions are only ever added, so the table needs no deletion marks.
type claimSet struct {
	tags     []uint8  // per slot: 0 free, else 1 + 8 bits of the id's hash
	slots    []uint32 // len(tags), a power of two; linear probing
	n        int      // slots used
	seed     maphash.Seed
	onTheWay map[crypt.ID]struct{} // claimed, not yet appended
}

func newClaimSet() claimSet {
	return claimSet{seed: maphash.MakeSeed(), onTheWay: map[crypt.ID]struct{}{}}
}

func (c *claimSet) hashTag(id *crypt.ID) (uint64, uint8) {
	h := maphash.Bytes(c.seed, id[:])
	return h, uint8(1 + (h>>56)%255)
}

// has reports whether id is claimed or appended (blobs: the delta's
// entries, which the slots point into).
func (c *claimSet) has(blobs []blobEntry, id *crypt.ID) bool {
	if _, ok := c.onTheWay[*id]; ok {
		return true
	}
	return c.pos(blobs, id) >= 0
}

// pos returns the position in blobs of appended blob id, -1 if none.
func (c *claimSet) pos(blobs []blobEntry, id *crypt.ID) int {
	if c.n == 0 {
		return -1
	}
	h, tag := c.hashTag(id)
	mask := uint64(len(c.tags) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch c.tags[i] {
		case 0:
			return -1
		case tag:
			if blobs[c.slots[i]].ID == *id {
				return int(c.slots[i])
			}
		}
	}
}

// claim records id as on its way to the delta.
func (c *claimSet) claim(id crypt.ID) { c.onTheWay[id] = struct{}{} }

// appended is told of the entry at position p of blobs, just appended: a
// claimed id moves to the table, and so does any other when add is set
// (a blob not claimed first: compaction's copies). A blob neither
// claimed nor added (a dictionary) stays out of the set.
func (c *claimSet) appended(blobs []blobEntry, p int, add bool) {
	id := &blobs[p].ID
	if _, ok := c.onTheWay[*id]; ok {
		delete(c.onTheWay, *id)
	} else if !add {
		return
	}
	if (c.n+1)*4 > len(c.tags)*3 {
		c.grow(blobs)
	}
	h, tag := c.hashTag(id)
	mask := uint64(len(c.tags) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch c.tags[i] {
		case 0:
			c.tags[i], c.slots[i] = tag, uint32(p)
			c.n++
			return
		case tag:
			if blobs[c.slots[i]].ID == *id {
				return
			}
		}
	}
}

// grow doubles the table and puts every slot in its new place.
func (c *claimSet) grow(blobs []blobEntry) {
	oldTags, oldSlots := c.tags, c.slots
	n := max(minIndexSlots, 2*len(oldTags))
	c.tags, c.slots = make([]uint8, n), make([]uint32, n)
	mask := uint64(n - 1)
	for j, t := range oldTags {
		if t == 0 {
			continue
		}
		h, _ := c.hashTag(&blobs[oldSlots[j]].ID)
		i := h & mask
		for c.tags[i] != 0 {
			i = (i + 1) & mask
		}
		c.tags[i], c.slots[i] = t, oldSlots[j]
	}
}
