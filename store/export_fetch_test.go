package store

import "github.com/chatsafe/chatsafe/crypt"

// FetchBudgetFree reports whether every fetch gave its share of the
// process's fetch budget back (for tests that end a fetch early).
func FetchBudgetFree() bool {
	if !fetchMem.TryAcquire(fetchBudget) {
		return false
	}
	fetchMem.Release(fetchBudget)
	return true
}

// StoreList stores refs as one chunk list blob, however many they are (a
// writer that cuts lists otherwise than this one), and returns its id.
func StoreList(w *Writer, refs []ChunkRef) (crypt.ID, error) {
	plain := encodeList(refs)
	id := w.r.ids.Sum(plain)
	return id, w.store(id, blobList, plain, true)
}
