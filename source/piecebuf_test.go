package source

import (
	"context"
	"testing"
	"unsafe"
)

// bufWatcher records where a read in pieces keeps its pages, after every
// batch of pages it reads.
type bufWatcher struct {
	*pageKeeper
	arrays map[*byte]bool
	caps   []int
}

func (w *bufWatcher) seams(sc *sqliteContent) {
	w.pageKeeper.seams(sc)
	sc.pieced.inTx = func() {
		if p := unsafe.SliceData(sc.pieced.buf); !w.arrays[p] {
			w.arrays[p] = true
			w.caps = append(w.caps, cap(sc.pieced.buf))
		}
	}
}

// TestPiecesBufferMadeOnce: a whole read in pieces keeps its pages in one
// buffer made at what a piece may hold, not one grown batch by batch into
// new memory (on the bench's --quick database it was reallocated at
// almost every piece, as the pieces lengthened: ~14 MB allocated for a
// 4 MiB buffer).
func TestPiecesBufferMadeOnce(t *testing.T) {
	f := newPiecesFixture(t, 3000)
	f.s.pieceBytes = 256 * 4096
	w := &bufWatcher{pageKeeper: f.k, arrays: map[*byte]bool{}}
	if err := f.s.Scan(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	if f.k.read["msgstore.db"] == 0 {
		t.Fatal("the database was not read")
	}
	if len(w.arrays) != 1 {
		t.Errorf("the pieces' pages were kept in %d arrays (capacities %v), want one", len(w.arrays), w.caps)
	}
}
