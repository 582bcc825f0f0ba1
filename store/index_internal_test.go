package store

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
)

// indexTestDelta is a delta whose trailer lists blobs with the given ids.
func indexTestDelta(seq uint64, ids []crypt.ID) *delta {
	t := &trailer{Seq: seq, Blobs: make([]blobEntry, len(ids))}
	for i, id := range ids {
		t.Blobs[i] = blobEntry{ID: id, Type: blobData, Offset: uint64(i) * 100, SealedLen: 100}
	}
	return &delta{ref: deltaRef{Seq: seq}, trailer: t}
}

func randomIDs(r *rand.Rand, n int) []crypt.ID {
	ids := make([]crypt.ID, n)
	for i := range ids {
		for j := 0; j < len(ids[i]); j += 8 {
			binary.LittleEndian.PutUint64(ids[i][j:], r.Uint64())
		}
	}
	return ids
}

// The index finds every blob in the first delta added that holds it,
// through several rounds of growth, and nothing it was not given.
func TestBlobIndexFirstCopyWins(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := newBlobIndex()
	if _, ok := x.get(crypt.ID{}); ok {
		t.Fatal("an empty index found a blob")
	}
	a := indexTestDelta(1, randomIDs(r, 5000))
	// b repeats every other blob of a (a later copy), and a blob twice.
	bIDs := randomIDs(r, 3000)
	for i := 0; i < len(a.trailer.Blobs); i += 2 {
		bIDs = append(bIDs, a.trailer.Blobs[i].ID)
	}
	bIDs = append(bIDs, bIDs[0])
	b := indexTestDelta(2, bIDs)
	x.add(a)
	x.add(b)
	x.add(indexTestDelta(3, nil))
	if got, want := x.Len(), 5000+3000; got != want {
		t.Fatalf("Len = %d, want %d", got, want)
	}
	for i := range a.trailer.Blobs {
		e := &a.trailer.Blobs[i]
		loc, ok := x.get(e.ID)
		if !ok || loc.d != a || loc.entry != e {
			t.Fatalf("blob %d of the first delta: got %v %v, want it in the first delta", i, loc.d, ok)
		}
	}
	for i := range 3000 {
		e := &b.trailer.Blobs[i]
		if loc, ok := x.get(e.ID); !ok || loc.d != b || loc.entry != e {
			t.Fatalf("blob %d of the second delta not found in it", i)
		}
	}
	if e := x.at(b.trailer.Blobs[0].ID); e != &b.trailer.Blobs[0] {
		t.Fatal("a blob repeated in one delta is not read from its first entry")
	}
	for _, id := range randomIDs(r, 2000) {
		if x.has(id) {
			t.Fatalf("found %s, which no delta holds", id)
		}
	}
	seen := 0
	for id, loc := range x.all() {
		if loc.entry.ID != id || x.at(id) != loc.entry {
			t.Fatalf("all yields %s at an entry the index does not give", id)
		}
		seen++
	}
	if seen != x.Len() {
		t.Fatalf("all yielded %d blobs, Len is %d", seen, x.Len())
	}
}

// Ids that agree in all but their last bytes (a hash's low bits are not
// the id's first bytes) are still told apart.
func TestBlobIndexNearIDs(t *testing.T) {
	ids := make([]crypt.ID, 1000)
	for i := range ids {
		binary.BigEndian.PutUint16(ids[i][30:], uint16(i))
	}
	x := newBlobIndex()
	d := indexTestDelta(1, ids[:500])
	x.add(d)
	for i, id := range ids {
		if got := x.has(id); got != (i < 500) {
			t.Fatalf("has(id %d) = %v", i, got)
		}
	}
	var nilIndex *blobIndex
	if nilIndex.has(ids[0]) || nilIndex.Len() != 0 {
		t.Fatal("a nil index holds something")
	}
}

// BenchmarkBlobIndex builds an index of 100k blobs in ten deltas and looks
// up as many present and absent ids (a first backup asks mostly about
// absent ones); -benchmem shows what building it allocates.
func BenchmarkBlobIndex(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	var deltas []*delta
	for i := range 10 {
		deltas = append(deltas, indexTestDelta(uint64(i+1), randomIDs(r, 10_000)))
	}
	absent := randomIDs(r, 100_000)
	b.Run("build", func(b *testing.B) {
		for b.Loop() {
			x := newBlobIndex()
			for _, d := range deltas {
				x.add(d)
			}
		}
	})
	// What the index replaced, for comparison: a map from the id.
	b.Run("build-map", func(b *testing.B) {
		for b.Loop() {
			m := map[crypt.ID]blobLoc{}
			for _, d := range deltas {
				for i := range d.trailer.Blobs {
					if e := &d.trailer.Blobs[i]; m[e.ID] == (blobLoc{}) {
						m[e.ID] = blobLoc{d: d, entry: e}
					}
				}
			}
		}
	})
	x := newBlobIndex()
	for _, d := range deltas {
		x.add(d)
	}
	b.Run("hit", func(b *testing.B) {
		i := 0
		for b.Loop() {
			d := deltas[i%10]
			if !x.has(d.trailer.Blobs[(i/10)%10_000].ID) {
				b.Fatal("missing")
			}
			i++
		}
	})
	b.Run("miss", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if x.has(absent[i%len(absent)]) {
				b.Fatal("found")
			}
			i++
		}
	})
}

// A blob held twice, once on a base and once on its own (two devices'
// deltas merged after a fork), is read through the copy on its own,
// whichever delta came first: only that copy can be a base, and it
// needs no other blob. Which copy the index kept used to follow the
// order deltas were added (a map's order, different on every open).
func TestBlobIndexPrefersTheCopyNotOnABase(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ids := randomIDs(r, 200)
	for _, onBaseFirst := range []bool{true, false} {
		onBase, own := indexTestDelta(1, ids), indexTestDelta(2, ids)
		for i := range onBase.trailer.Blobs {
			onBase.trailer.Dicts = append(onBase.trailer.Dicts, ids[(i+1)%len(ids)])
			e := &onBase.trailer.Blobs[i]
			e.Comp, e.Ref = compZstdBase, uint32(len(onBase.trailer.Dicts))
		}
		x := newBlobIndex()
		if onBaseFirst {
			x.add(onBase)
			x.add(own)
		} else {
			x.add(own)
			x.add(onBase)
		}
		for i, id := range ids {
			loc, ok := x.get(id)
			if !ok || loc.d != own || loc.entry != &own.trailer.Blobs[i] {
				t.Fatalf("on a base added first %v: blob %d read through the copy on a base", onBaseFirst, i)
			}
		}
		if x.Len() != len(ids) {
			t.Fatalf("Len = %d, want %d", x.Len(), len(ids))
		}
	}
}
