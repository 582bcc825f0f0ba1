package store

// FetchBudgetFree reports whether every fetch gave its share of the
// process's fetch budget back (for tests that end a fetch early).
func FetchBudgetFree() bool {
	if !fetchMem.TryAcquire(fetchBudget) {
		return false
	}
	fetchMem.Release(fetchBudget)
	return true
}
