package store

// MemoTokens counts the tokens r keeps decoded.
func MemoTokens(r *Store) int {
	r.tokens.mu.Lock()
	defer r.tokens.mu.Unlock()
	return len(r.tokens.entries)
}
