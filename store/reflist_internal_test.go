package store

import (
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"testing"
)

// TestRefBuilderVersions builds versions on versions, each carrying most
// references of the one before, appending, setting again and truncating at
// random, against a plain slice: each version holds what was written, no
// version is changed by the ones built on it, diffRefs finds exactly the
// references that differ, and a block nothing was written into is shared.
func TestRefBuilderVersions(t *testing.T) {
	for seed := range uint64(8) {
		refBuilderVersions(t, rand.New(rand.NewPCG(11, seed)))
	}
}

func refBuilderVersions(t *testing.T, rng *rand.Rand) {
	var lists []RefList
	var models [][]ChunkRef
	b := NewRefBuilder(rng.IntN(3000), nil)
	for range rng.IntN(3000) {
		*b.Next() = randomRef(rng)
	}
	lists, models = append(lists, b.List()), append(models, b.List().Slice())
	for v := range 40 {
		base, baseModel := lists[len(lists)-1], models[len(models)-1]
		n := max(base.Len()+rng.IntN(600)-300, 0)
		b := NewRefBuilder(n, nil)
		var model []ChunkRef
		written := map[int]bool{} // blocks written into
		for i := 0; i < n; i++ {
			switch r := rng.IntN(1000); {
			case r < 970 && i < base.Len() && rng.IntN(2) == 0:
				got, ok := carryOne(b, base)
				if !ok || got != baseModel[i] {
					t.Fatalf("version %d: carrying %d gave %v (%v), want %v", v, i, got, ok, baseModel[i])
				}
				model = append(model, got)
			case r < 970 && i < base.Len():
				// A run, across blocks now and then.
				m := 1 + rng.IntN(min(base.Len()-i, 3*refBlockLen))
				var want int64
				for _, ref := range baseModel[i : i+m] {
					want += int64(ref.Len)
				}
				got, ok := b.CarryRun(base, m)
				if !ok || got != want {
					t.Fatalf("version %d: carrying %d from %d gave %d bytes (%v), want %d", v, m, i, got, ok, want)
				}
				model = append(model, baseModel[i:i+m]...)
				i += m - 1
			case r < 990 || i == 0:
				ref := randomRef(rng)
				*b.Next() = ref
				model = append(model, ref)
				written[i/refBlockLen] = true
			case r < 998:
				j := rng.IntN(i)
				ref := randomRef(rng)
				*b.Set(j) = ref
				model[j] = ref
				written[j/refBlockLen] = true
				i--
			default:
				j := i - rng.IntN(min(i, 2*refBlockLen)+1)
				b.Truncate(j)
				model = model[:j]
				i = j - 1
			}
		}
		l := b.List()
		if !slices.Equal(l.Slice(), model) || l.Len() != len(model) {
			t.Fatalf("version %d: %d references differ from the %d written", v, l.Len(), len(model))
		}
		for i := range model {
			if l.At(i) != model[i] {
				t.Fatalf("version %d: At(%d) = %v, want %v", v, i, l.At(i), model[i])
			}
		}
		if got, want := diffRefs(base, l), diffOf(baseModel, model); !reflect.DeepEqual(append([]patchEntry{}, got...), want) {
			t.Fatalf("version %d: diff of %d entries, want %d", v, len(got), len(want))
		}
		for k := range l.blocks {
			if !written[k] && k < len(base.blocks) && (k+1)*refBlockLen <= min(base.Len(), l.Len()) && !sameBlock(l.blocks[k], base.blocks[k]) {
				t.Fatalf("version %d: block %d, carried whole, is a copy", v, k)
			}
		}
		lists, models = append(lists, l), append(models, model)
		for w := range lists {
			if !slices.Equal(lists[w].Slice(), models[w]) {
				t.Fatalf("building version %d changed version %d", v+1, w)
			}
		}
	}
}

// carryOne carries base's next reference alone and returns it.
func carryOne(b *RefBuilder, base RefList) (ChunkRef, bool) {
	i := b.Len()
	if _, ok := b.CarryRun(base, 1); !ok {
		return ChunkRef{}, false
	}
	return base.At(i), true
}

// TestRefBuilderCarryRunBounds: a run longer than what the base has left,
// or empty, is refused and appends nothing.
func TestRefBuilderCarryRunBounds(t *testing.T) {
	base := RefsOf(randomRefs(rand.New(rand.NewPCG(15, 16)), 300))
	b := NewRefBuilder(300, nil)
	if _, ok := b.CarryRun(base, 250); !ok {
		t.Fatal("a run of 250 of 300 references refused")
	}
	for _, n := range []int{0, -1, 51} {
		if got, ok := b.CarryRun(base, n); ok || got != 0 || b.Len() != 250 {
			t.Errorf("a run of %d after 250 of 300: %d bytes, %v; %d references", n, got, ok, b.Len())
		}
	}
	if _, ok := b.CarryRun(base, 50); !ok || !slices.Equal(b.List().Slice(), base.Slice()) {
		t.Errorf("the last 50 carried: %v, references differ: %v", ok, !slices.Equal(b.List().Slice(), base.Slice()))
	}
}

// TestRefBuilderOnePageChange: a version of a 260,000-page database that
// changes one page copies one block, not the database's references.
func TestRefBuilderOnePageChange(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	const pages = 260000
	base := RefsOf(randomRefs(rng, pages))
	changed := rng.IntN(pages)
	ref := randomRef(rng)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b := NewRefBuilder(pages+64, nil)
	for i := range pages {
		if i == changed {
			*b.Next() = ref
			continue
		}
		if _, ok := carryOne(b, base); !ok {
			t.Fatalf("page %d not carried", i)
		}
	}
	l := b.List()
	runtime.ReadMemStats(&after)
	// The block headers (24 bytes a block) and one block (9 KiB).
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<10 {
		t.Errorf("a one-page version of %d pages allocated %d bytes", pages, alloc)
	}
	if d := diffRefs(base, l); len(d) != 1 || d[0].Index != changed || d[0].Ref != ref {
		t.Errorf("diff %v, want page %d only", d, changed)
	}
}

// TestRefBuilderSmallFirstBlock: a small file's references take a block
// of its size; the block grows (after beforeMove) as a file turns out
// longer, and the references written before are kept.
func TestRefBuilderSmallFirstBlock(t *testing.T) {
	moved := 0
	b := NewRefBuilder(3, func() { moved++ })
	for i := range 600 {
		*b.Next() = ChunkRef{Len: uint32(i)}
	}
	if cap(b.blocks[0]) != refBlockLen || moved != 7 { // 3, 6, ... 192, then 256
		t.Errorf("first block of capacity %d after %d moves", cap(b.blocks[0]), moved)
	}
	for i := range 600 {
		if b.At(i).Len != uint32(i) {
			t.Fatalf("reference %d is %d", i, b.At(i).Len)
		}
	}
	if l := RefsOf(make([]ChunkRef, 2)); cap(l.blocks[0]) != 2 {
		t.Errorf("a two-reference list takes a block of %d", cap(l.blocks[0]))
	}
	// A small database's next version, its last page changed: the copy
	// of the shared block is of its size too.
	base := RefsOf(make([]ChunkRef, 10))
	nb := NewRefBuilder(base.Len()+64, nil)
	for range 9 {
		carryOne(nb, base)
	}
	*nb.Next() = ChunkRef{Len: 1}
	if l := nb.List(); cap(l.blocks[0]) > 20 || l.At(9).Len != 1 {
		t.Errorf("a 10-reference version with one changed takes a block of %d", cap(l.blocks[0]))
	}
}

// TestRefBuilderGrowsSharedBlock: a shared block past the first that is
// only as large as its references (a view of a file cache token's bytes)
// is copied into a whole block when written: a database that grows by a
// page does not move the block again, waiting for the workers each time.
func TestRefBuilderGrowsSharedBlock(t *testing.T) {
	refs := randomRefs(rand.New(rand.NewPCG(21, 7)), 300)
	want := slices.Clone(refs)
	base := RefList{blocks: [][]ChunkRef{refs[:256:256], refs[256:300:300]}, n: 300}
	moved := 0
	b := NewRefBuilder(400, func() { moved++ })
	if _, ok := b.CarryRun(base, 300); !ok {
		t.Fatal("carry refused")
	}
	for i := range 100 {
		*b.Next() = ChunkRef{Len: uint32(i)}
	}
	if moved != 0 || cap(b.blocks[1]) != refBlockLen {
		t.Errorf("the grown block moved %d times, capacity %d", moved, cap(b.blocks[1]))
	}
	if !slices.Equal(refs, want) || b.Len() != 400 || b.At(299) != want[299] || b.At(399).Len != 99 {
		t.Error("growing the list changed the shared references or lost its own")
	}
}
