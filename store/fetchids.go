package store

import (
	"sort"

	"github.com/chatsafe/chatsafe/crypt"
)

// blobIDs is what a fetch is asked for, by position: a restore hands over
// a file's chunk references as they are instead of a copy of their ids
// (32 bytes a page, 8 MB for a 1 GB database, held for the whole fetch).
type blobIDs interface {
	Len() int
	At(i int) crypt.ID
}

// idSlice is a fetch of ids.
type idSlice []crypt.ID

func (s idSlice) Len() int          { return len(s) }
func (s idSlice) At(i int) crypt.ID { return s[i] }

// refIDs is a fetch of chunk references' ids.
type refIDs []ChunkRef

func (s refIDs) Len() int          { return len(s) }
func (s refIDs) At(i int) crypt.ID { return s[i].ID }

// idSpan is ids[lo:hi] of another list, without a copy.
type idSpan struct {
	ids    blobIDs
	lo, hi int
}

func (s idSpan) Len() int          { return s.hi - s.lo }
func (s idSpan) At(i int) crypt.ID { return s.ids.At(s.lo + i) }

// skipIDs is ids without the places in skip (ascending), without a copy:
// a fetch's ids but for a few, taken apart (basefetch.go).
type skipIDs struct {
	ids  blobIDs
	skip []int
}

func (s skipIDs) Len() int { return s.ids.Len() - len(s.skip) }

// At is the i-th place not skipped: i plus the j skipped places before
// it, j the first with skip[j]-j > i (skip[j]-j, the places kept before
// skip[j], never decreases).
func (s skipIDs) At(i int) crypt.ID {
	j := sort.Search(len(s.skip), func(j int) bool { return s.skip[j]-j > i })
	return s.ids.At(i + j)
}
