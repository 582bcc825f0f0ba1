package store

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
