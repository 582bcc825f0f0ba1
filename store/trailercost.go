package store

import (
	"math/bits"

	"github.com/chatsafe/chatsafe/crypt"
)

// trailerCost counts what a delta's sealed trailer will take, entry by
// entry as the blobs land, so that the writer cuts a delta whose blobs
// reach its size cap within about one blob (deltaWriter.fullN). Reserving
// every entry at its worst case and a fixed slack for the rest left 1.1 to
// 1.45 MB of a full 256 MiB delta to padding (docs/benchmarks.md).
//
// Every size here is an upper bound of what trailer.encode writes; a
// trailer larger than counted still works (it only pads the delta to the
// next Padmé size), so each kind of entry gets one size, in entrySize.
type trailerCost struct {
	// fixed is everything but the entries: the header, the live delta
	// references and forgotten snapshots known when the delta started
	// (with room for liveMargin more), the device, the hostname and the
	// padding length.
	fixed int64
	// index is the encoded size of the index entries appended, and of
	// their table of dictionaries and bases (the writer's, which holds
	// each dictionary once and each base as if new: bases are other
	// pages, rarely shared, and not worth a set per page).
	index int64
}

// deltaRefSize bounds one encoded deltaref: id, uvarint seq, hash.
const deltaRefSize = 16 + 10 + 32

// liveMargin: live deltas a trailer may list beyond those live when its
// delta started (the one committed in the background meanwhile; a
// reload).
const liveMargin = 8

// tableEntry is one dictionary or base in a trailer's table.
const tableEntry = 32

// inflightEntry bounds the trailer entries of a blob not appended yet: its
// index entry and a table entry (it may land as a page on a base).
const inflightEntry = maxIndexEntry + tableEntry

// newTrailerCost starts the count for a trailer that will list about live
// other deltas and forgotten snapshots, written by hostname.
func newTrailerCost(live, forgotten int, hostname string) trailerCost {
	const header = 1 + 16 + 10 + 10 + deltaRefSize // version, id, seq, time, parent
	const counts = 5 * 10                          // live, table, blobs, snapshots, forgotten
	tail := 16 + 10 + int64(len(hostname)) + 4     // device, hostname, padding length
	return trailerCost{fixed: header + counts + int64(live+liveMargin)*deltaRefSize + int64(forgotten)*16 + tail}
}

// add counts e, appended to the delta: its index entry as trailer.encode
// writes it and, if it names a dictionary or base added to the table
// (added; table: the table's length now), the table's entry. A new kind of
// trailer entry gets its size here.
func (c *trailerCost) add(e *blobEntry, added bool, table int) {
	n := int64(len(e.ID)) + 1 + 1 + // id, type, compression
		1 + uvarintLen(uint64(e.SealedLen)) + uvarintLen(uint64(e.RawLen)) // offset gap (0: back to back), lengths
	switch e.Comp {
	case compGroup:
		// A member: id, type, compression and its length, nothing more.
		n = int64(len(e.ID)) + 1 + 1 + uvarintLen(uint64(e.RawLen))
	case compZstdDict, compZstdBase:
		if added {
			n += tableEntry
		}
		n += uvarintLen(uint64(table)) // its index in the table, at most
	}
	c.index += n
}

// sealed bounds the sealed trailer with inflight more blobs to come.
func (c *trailerCost) sealed(inflight int) int64 {
	return c.fixed + c.index + int64(inflight)*inflightEntry + crypt.Overhead
}

// uvarintLen is the length of v as a uvarint.
func uvarintLen(v uint64) int64 {
	return int64(bits.Len64(v|1)+6) / 7
}

// snapshotsSize is what snapshot records snaps and forgotten more
// forgotten ids add to a trailer, each record with its device (which a
// trailer writes only when it carries another device's record: an upper
// bound).
func snapshotsSize(snaps []Snapshot, forgotten int) int64 {
	e := &encoder{}
	for i := range snaps {
		encodeSnapshot(e, &snaps[i], true)
	}
	return int64(len(e.b)) + int64(forgotten)*16
}
