package store

// SampleDictionary makes r start sampling pages for a new dictionary:
// until it is made, a run of pages (Writer.Pages) is sealed page by page.
func SampleDictionary(r *Store) {
	r.dicts.mu.Lock()
	r.dicts.sampling = true
	r.dicts.mu.Unlock()
}
