package store

import (
	"context"

	"github.com/chatsafe/chatsafe/crypt"
)

// SampleDictionary makes r start sampling pages for a new dictionary:
// until it is made, a run of pages (Writer.Pages) is sealed page by page.
func SampleDictionary(r *Store) {
	r.dicts.mu.Lock()
	r.dicts.sampling = true
	r.dicts.mu.Unlock()
}

// ListBlobs counts the list blobs the live deltas hold: plain ones and
// run lists, and the plaintext bytes of each kind.
func ListBlobs(r *Store) (plain, runs, plainBytes, runBytes int) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, d := range r.deltas {
		for _, e := range d.trailer.Blobs {
			switch e.Type {
			case blobList:
				plain, plainBytes = plain+1, plainBytes+int(e.RawLen)
			case blobRunList:
				runs, runBytes = runs+1, runBytes+int(e.RawLen)
			}
		}
	}
	return plain, runs, plainBytes, runBytes
}

// SetAfterCacheMiss runs f after each id a small fetch did not find in
// the group cache (nil: nothing); the previous hook is put back at the
// test's end.
func SetAfterCacheMiss(t interface{ Cleanup(func()) }, f func(id crypt.ID)) {
	old := afterCacheMiss
	afterCacheMiss = f
	t.Cleanup(func() { afterCacheMiss = old })
}

// FetchListsOnly reads c's chunk lists as ChunkRefs does and decodes
// none of them: what ChunkRefs allocates beyond it is the decoding's.
func FetchListsOnly(ctx context.Context, r *Store, c Content) error {
	lists, err := r.resolveLists(ctx, c)
	if err != nil {
		return err
	}
	return r.fetchLocs(ctx, lists, func(blobLoc, []byte) error { return nil })
}

// SetGroupBulkAfter makes a delta's groups past its first n bytes take
// groupBulkLevel; the previous threshold is put back at the test's end.
func SetGroupBulkAfter(t interface{ Cleanup(func()) }, n int64) {
	old := groupBulkAfter
	groupBulkAfter = n
	t.Cleanup(func() { groupBulkAfter = old })
}

// OnBigBufferWait calls f each time a big buffer's get is about to wait
// for the budget, until the test ends.
func OnBigBufferWait(t interface{ Cleanup(func()) }, f func()) {
	bigBufWaitHook = f
	t.Cleanup(func() { bigBufWaitHook = nil })
}
