package store

import (
	"math/rand/v2"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
)

// The claim set finds every id claimed, whether still on its way or
// appended, through several rounds of growth; an id appended without a
// claim (a dictionary) stays out unless added, and ids never given are
// not found.
func TestClaimSet(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ids := randomIDs(r, 5000)
	absent := randomIDs(r, 1000)
	c := newClaimSet()
	var blobs []blobEntry
	appendBlob := func(id crypt.ID, add bool) {
		blobs = append(blobs, blobEntry{ID: id})
		c.appended(blobs, len(blobs)-1, add)
	}
	for i, id := range ids {
		switch i % 3 {
		case 0: // claimed, then appended: the usual blob
			c.claim(id)
			if !c.has(blobs, &id) {
				t.Fatalf("id %d not found on its way", i)
			}
			appendBlob(id, false)
		case 1: // appended without a claim, added (compaction)
			appendBlob(id, true)
		case 2: // claimed, still on its way
			c.claim(id)
		}
	}
	dict := absent[0]
	appendBlob(dict, false) // neither claimed nor added
	for i, id := range ids {
		if !c.has(blobs, &id) {
			t.Fatalf("id %d (case %d) not found", i, i%3)
		}
	}
	for i, id := range absent {
		if c.has(blobs, &id) {
			t.Fatalf("absent id %d found", i)
		}
	}
	if got, want := len(c.onTheWay), len(ids)/3; got != want {
		t.Fatalf("%d ids kept whole, want %d (only those on their way)", got, want)
	}
	if c.n != len(ids)-len(ids)/3 {
		t.Fatalf("%d positions in the table, want %d", c.n, len(ids)-len(ids)/3)
	}
	// An id appended twice keeps one slot.
	appendBlob(ids[1], true)
	if c.n != len(ids)-len(ids)/3 {
		t.Fatalf("%d positions after a second copy, want %d", c.n, len(ids)-len(ids)/3)
	}
}

// Ids that differ in one byte (the same tag, most likely the same probe
// chain) are told apart by the entries' ids.
func TestClaimSetNearIDs(t *testing.T) {
	c := newClaimSet()
	var blobs []blobEntry
	for i := range 300 {
		var id crypt.ID
		id[31] = byte(i)
		id[30] = byte(i >> 8)
		if i%2 == 0 {
			blobs = append(blobs, blobEntry{ID: id})
			c.appended(blobs, len(blobs)-1, true)
		}
	}
	for i := range 300 {
		var id crypt.ID
		id[31] = byte(i)
		id[30] = byte(i >> 8)
		if got := c.has(blobs, &id); got != (i%2 == 0) {
			t.Fatalf("id %d: has %v, want %v", i, got, i%2 == 0)
		}
	}
}

// BenchmarkClaimSet: what a delta's claims cost per id, against the Go
// map they replace.
func BenchmarkClaimSet(b *testing.B) {
	const n = 150_000 // a 256 MiB delta of compressed pages
	ids := randomIDs(rand.New(rand.NewPCG(5, 6)), n)
	blobs := make([]blobEntry, 0, n)
	for i := range n {
		blobs = append(blobs, blobEntry{ID: ids[i]})
	}
	b.Run("set", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := newClaimSet()
			for i := range n {
				if c.has(blobs[:i], &ids[i]) {
					b.Fatal("found before claimed")
				}
				c.claim(ids[i])
				c.appended(blobs[:i+1], i, false)
			}
		}
	})
	b.Run("map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := map[crypt.ID]struct{}{}
			for i := range n {
				if _, ok := m[ids[i]]; ok {
					b.Fatal("found before claimed")
				}
				m[ids[i]] = struct{}{}
			}
		}
	})
}
