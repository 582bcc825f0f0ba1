package store

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/chatsafe/chatsafe/crypt"
)

// A restore plans the fetch of a whole database at once: a 1 GB one is
// ~260k pages. The plan holds a location per distinct page (16 bytes),
// shared by its ranges; a set of the ids seen and per-delta lists grown
// by appending cost 60–100 bytes a page more, at the restore's peak
// (docs/benchmarks.md, "Peak RSS, fourth round").
func TestPlanRangesHoldsOneLocationAPage(t *testing.T) {
	const pages = 1 << 16
	r := &Store{index: newBlobIndex()}
	var refs []ChunkRef
	var wantPlain int
	for di := range 2 {
		d := &delta{ref: deltaRef{Seq: uint64(7 - di)}, trailer: &trailer{Blobs: make([]blobEntry, pages/2)}}
		for i := range d.trailer.Blobs {
			var id crypt.ID
			binary.LittleEndian.PutUint32(id[:], uint32(di*pages+i))
			d.trailer.Blobs[i] = blobEntry{ID: id, Type: blobData, Comp: compZstd, Offset: uint64(i) * 1500, SealedLen: 1500, RawLen: 4096}
			refs = append(refs, ChunkRef{ID: id, Len: 4096})
			wantPlain += 4096
			if i%8 == 0 { // runs of equal pages: a page asked for twice
				refs = append(refs, ChunkRef{ID: id, Len: 4096})
			}
		}
		r.index.add(d)
	}
	var ranges []fetchRange
	var err error
	n := allocated(func() { ranges, err = r.planRanges(refIDs(refs)) })
	if err != nil {
		t.Fatal(err)
	}
	// The locations (one per id asked, before the repeats are dropped)
	// and the ranges (256 pages each, at the plaintext cap).
	budget := uint64(len(refs))*16 + 2*uint64(len(ranges))*uint64(unsafe.Sizeof(fetchRange{})) + 64<<10
	t.Logf("planning %d pages (%d asked) allocated %d bytes, %.1f a page asked", pages, len(refs), n, float64(n)/float64(len(refs)))
	if n > budget {
		t.Errorf("planning %d pages allocated %d bytes, want at most %d (16 a page asked, and the ranges)", pages, n, budget)
	}
	// Every page in exactly one range, each range within one delta, the
	// deltas in order.
	seen := map[crypt.ID]int{}
	plain := 0
	var lastSeq uint64
	for _, fr := range ranges {
		if fr.d.ref.Seq < lastSeq {
			t.Fatalf("a range of delta %d after one of delta %d", fr.d.ref.Seq, lastSeq)
		}
		lastSeq = fr.d.ref.Seq
		sum := 0
		for _, loc := range fr.locs {
			if loc.d != fr.d {
				t.Fatal("a range holds blobs of two deltas")
			}
			seen[loc.entry.ID]++
			sum += int(loc.entry.RawLen)
		}
		if sum != fr.plain {
			t.Fatalf("a range's plaintext is %d, its blobs add up to %d", fr.plain, sum)
		}
		plain += sum
	}
	if len(seen) != pages || plain != wantPlain {
		t.Fatalf("the plan covers %d pages, %d bytes; want %d, %d", len(seen), plain, pages, wantPlain)
	}
	for id, k := range seen {
		if k != 1 {
			t.Fatalf("page %x is planned %d times", id[:4], k)
		}
	}
}
