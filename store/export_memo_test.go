package store

// MemoTokens counts the tokens r keeps decoded.
func MemoTokens(r *Store) int {
	r.tokens.mu.Lock()
	defer r.tokens.mu.Unlock()
	return len(r.tokens.entries)
}

// MemoViews counts the reference blocks of the tokens r keeps decoded
// that lie within their token's bytes (views), and those that do not.
func MemoViews(r *Store) (views, copies int) {
	r.tokens.mu.Lock()
	defer r.tokens.mu.Unlock()
	for _, e := range r.tokens.entries {
		for _, blk := range e.tok.refs.blocks {
			if inBytes(blk, e.bytes) {
				views++
			} else {
				copies++
			}
		}
	}
	return views, copies
}

// ViewsOnThisHost reports whether decoded tokens' references are views of
// their bytes here (a little-endian host), as tokenrefs.go decides.
func ViewsOnThisHost() bool { return littleEndian }
