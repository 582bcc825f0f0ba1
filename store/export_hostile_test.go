package store

import (
	"context"
	"sort"

	"github.com/chatsafe/chatsafe/crypt"
)

// DeltaPadding reports, for each live delta, its size and its padding
// (for tests of the padding from outside the package).
func DeltaPadding(r *Store) (sizes, padding []int64) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, ref := range r.liveRefs() {
		d := r.deltas[ref.ID]
		sizes = append(sizes, d.size)
		padding = append(padding, int64(d.trailer.Padding))
	}
	return sizes, padding
}

// DictInfo describes one dictionary blob, for tests.
type DictInfo struct {
	ID        crypt.ID
	Delta     string // the delta object holding it
	Offset    int64  // of its sealed bytes in the delta
	SealedLen int64
	Users     int // blobs compressed with it
}

// Dictionaries lists the dictionaries the live deltas hold, oldest first.
func Dictionaries(r *Store) []DictInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	users := map[crypt.ID]int{}
	for _, loc := range r.index.all() {
		// A group's members are compressed with its dictionary.
		if dict, ok := loc.dict(); ok {
			users[dict]++
		}
	}
	var out []DictInfo
	for id, loc := range r.index.all() {
		if loc.entry.Type == blobDict {
			out = append(out, DictInfo{ID: id, Delta: loc.d.ref.name(), Offset: int64(loc.entry.Offset), SealedLen: int64(loc.entry.SealedLen), Users: users[id]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Delta < out[j].Delta })
	return out
}

// WriterDict is the generation of the dictionary the writer compresses
// new pages with (0: none).
func WriterDict(r *Store) (crypt.ID, uint64) {
	r.dicts.mu.Lock()
	defer r.dicts.mu.Unlock()
	if r.dicts.cur == nil {
		return crypt.ID{}, 0
	}
	return r.dicts.cur.id, r.dicts.cur.gen
}

// OnBase counts the live blobs compressed on a previous version and the
// distinct bases they name.
func OnBase(r *Store) (blobs, bases int) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	seen := map[crypt.ID]bool{}
	for _, loc := range r.index.all() {
		if base, ok := loc.dict(); ok && loc.entry.Comp == compZstdBase {
			blobs++
			seen[base] = true
		}
	}
	return blobs, len(seen)
}

// SomeBase returns a base some live page is compressed on, the delta
// holding it and where its sealed bytes are (its group's, for a member).
func SomeBase(r *Store) (id crypt.ID, delta string, off, n int64) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, loc := range r.index.all() {
		if base, ok := loc.dict(); ok && loc.entry.Comp == compZstdBase {
			b, _ := r.index.get(base)
			se := b.sealedEntry()
			return b.entry.ID, b.d.ref.name(), int64(se.Offset), int64(se.SealedLen)
		}
	}
	return id, "", 0, 0
}

// SetBaseFetchBudget sets what the bases of one fetch may hold, until
// the returned func restores it.
func SetBaseFetchBudget(n int) func() {
	old := baseFetchBudget
	baseFetchBudget = n
	return func() { baseFetchBudget = old }
}

// GroupInfo is one group of pages: where it is sealed, and its members.
type GroupInfo struct {
	Delta     string
	Offset    int64
	SealedLen int64
	Members   []crypt.ID
}

// Groups lists the groups of the live deltas.
func Groups(r *Store) []GroupInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []GroupInfo
	for _, d := range r.deltas {
		for i := range d.trailer.Blobs {
			e := &d.trailer.Blobs[i]
			if e.Type != blobGroup {
				continue
			}
			g := GroupInfo{Delta: d.ref.name(), Offset: int64(e.Offset), SealedLen: int64(e.SealedLen)}
			for _, m := range groupMembers(d.trailer.Blobs, i) {
				g.Members = append(g.Members, m.ID)
			}
			out = append(out, g)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Delta < out[j].Delta || out[i].Delta == out[j].Delta && out[i].Offset < out[j].Offset
	})
	return out
}

// ReadBlob reads one blob on its own, as a mount does.
func ReadBlob(ctx context.Context, r *Store, id crypt.ID) ([]byte, error) {
	plain, _, err := r.readBlob(ctx, id)
	return plain, err
}

// LeftoverAfter is how many small jobs in a row let a media phase's
// buffers go.
const LeftoverAfter = leftoverAfter

// BigBuffersKept is the capacity of w's big buffers, in use or kept.
func BigBuffersKept(w *Writer) int {
	b := w.seal.big
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total
}
