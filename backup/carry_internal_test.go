package backup

import (
	"errors"
	"testing"

	"github.com/chatsafe/chatsafe/source"
	"github.com/chatsafe/chatsafe/store"
)

// A run of carried pages the previous version does not hold (a cache
// token of another version) is ErrStaleCache, which makes the backup start
// over without the cache, and appends nothing; an empty or negative run is
// an error of its own.
func TestCarryBeyondThePreviousVersion(t *testing.T) {
	refs := make([]store.ChunkRef, 300)
	for i := range refs {
		refs[i].Len = 4096
	}
	base := store.RefsOf(refs)
	f := &fileRefs{}
	f.reserve(source.FileInfo{Kind: source.KindSQLite, PageSize: 4096}, base.Len())
	if got, err := f.carry("db", base, 299); err != nil || got != 299*4096 {
		t.Fatalf("carrying 299 of 300 pages: %d bytes, %v", got, err)
	}
	if _, err := f.carry("db", base, 2); !errors.Is(err, store.ErrStaleCache) || f.refs.Len() != 299 {
		t.Errorf("carrying 2 more of 300: %v, %d references", err, f.refs.Len())
	}
	for _, n := range []int{0, -1} {
		if _, err := f.carry("db", base, n); err == nil || errors.Is(err, store.ErrStaleCache) || f.refs.Len() != 299 {
			t.Errorf("a run of %d: %v, %d references", n, err, f.refs.Len())
		}
	}
}
