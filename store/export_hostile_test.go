package store

import (
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
		if loc.entry.Dict != nil {
			users[*loc.entry.Dict]++
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
