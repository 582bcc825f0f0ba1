package browse

import (
	"slices"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/store"
)

// AtNext gives what At gives, whatever the hint: a right one (the fast
// path), a wrong one, none or one out of range; for a chunk the file
// holds twice or more it gives every place, even with the hint at one of
// them; and the next position is the one after the chunk's first place.
func TestPlacesAtNext(t *testing.T) {
	ids := []byte("abacddeb")
	refs := make([]store.ChunkRef, len(ids))
	offs := make([]int64, len(ids)+1)
	for i, c := range ids {
		refs[i] = store.ChunkRef{ID: crypt.ID{c}, Len: uint32(i + 1)}
		offs[i+1] = offs[i] + int64(i+1)
	}
	p := (&File{refs: refs, offs: offs}).ChunkPlaces()
	for i, ref := range refs {
		want := p.At(ref.ID, nil)
		first := slices.IndexFunc(refs, func(r store.ChunkRef) bool { return r.ID == ref.ID })
		for _, hint := range []int{-1, 0, i - 1, i, i + 1, len(refs), len(refs) + 5} {
			got, next := p.AtNext(ref.ID, hint, nil)
			if !slices.Equal(got, want) || next != first+1 {
				t.Errorf("chunk %q at %d, hint %d: places %v, next %d; want %v, %d", ids[i], i, hint, got, next, want, first+1)
			}
		}
	}
	if got, next := p.AtNext(crypt.ID{'z'}, 0, nil); len(got) != 0 || next != -1 {
		t.Errorf("a chunk the file does not hold: places %v, next %d", got, next)
	}
	if got, _ := p.AtNext(crypt.ID{'a'}, 0, []int64{42}); !slices.Equal(got, []int64{42, 0, 3}) {
		t.Errorf("AtNext does not append to buf: %v", got)
	}
}

// BenchmarkPlaces looks up every page of a 280 MB database in file
// order, as a restore's writer does: by binary search (At), and with the
// previous page's position as the hint (AtNext).
func BenchmarkPlaces(b *testing.B) {
	const pages = 67_284 // the --full bench database
	refs := make([]store.ChunkRef, pages)
	offs := make([]int64, pages+1)
	h := crypt.NewIDHasher([32]byte{})
	for i := range refs {
		refs[i] = store.ChunkRef{ID: h.Sum([]byte{byte(i), byte(i >> 8), byte(i >> 16)}), Len: 4096}
		offs[i+1] = offs[i] + 4096
	}
	p := (&File{refs: refs, offs: offs}).ChunkPlaces()
	var buf []int64
	b.Run("At", func(b *testing.B) {
		for b.Loop() {
			for _, r := range refs {
				buf = p.At(r.ID, buf[:0])
			}
		}
	})
	b.Run("AtNext", func(b *testing.B) {
		for b.Loop() {
			next := -1
			for _, r := range refs {
				buf, next = p.AtNext(r.ID, next, buf[:0])
			}
		}
	})
}
