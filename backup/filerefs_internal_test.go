package backup

import (
	"sync"
	"testing"

	"github.com/chatsafe/chatsafe/source"
	"github.com/chatsafe/chatsafe/store"
)

// fakeWorkers fills references as the writer's sealing workers do: later,
// on other goroutines, counted in pending. release lets them write.
type fakeWorkers struct {
	release chan struct{}
	done    sync.WaitGroup
}

func (w *fakeWorkers) chunk(pending *sync.WaitGroup, slot *store.ChunkRef, v uint32) {
	pending.Add(1)
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		defer pending.Done()
		<-w.release
		*slot = store.ChunkRef{Len: v}
	}()
}

// References written by workers still running when the list must grow
// land in the grown list, and of a page delivered again the last
// delivery wins, a truncation included.
func TestFileRefsGrowWhileWorkersWrite(t *testing.T) {
	w := &fakeWorkers{release: make(chan struct{})}
	defer w.done.Wait()
	f := &fileRefs{}
	f.reserve(source.FileInfo{Kind: source.KindSQLite, Size: 3 * 4096, PageSize: 4096}, 0)
	if want := refsWanted(source.FileInfo{Kind: source.KindSQLite, Size: 3 * 4096, PageSize: 4096}, 0); want != 4 {
		t.Fatalf("a 3-page database reserved %d references, want 4", want)
	}
	// The first four are written once the list has to grow for the fifth:
	// growing waits for them.
	for i := range 4 {
		w.chunk(&f.pending, f.next(), uint32(100+i))
	}
	go close(w.release)
	for i := 4; i < 300; i++ {
		w.chunk(&f.pending, f.next(), uint32(100+i))
	}
	w.chunk(&f.pending, f.again(7), 7000)
	w.chunk(&f.pending, f.again(7), 7001)
	w.chunk(&f.pending, f.again(250), 25000)
	f.truncate(200) // drops the delivery of 250 again
	for i := 200; i < 260; i++ {
		w.chunk(&f.pending, f.next(), uint32(2000+i))
	}
	w.chunk(&f.pending, f.again(3), 3000)
	f.settle()
	if f.refs.Len() != 260 || !f.truncated {
		t.Fatalf("%d references (truncated %v), want 260 after a truncation", f.refs.Len(), f.truncated)
	}
	for i, r := range f.refs.List().Slice() {
		want := uint32(100 + i)
		switch {
		case i == 3:
			want = 3000
		case i == 7:
			want = 7001
		case i >= 200:
			want = uint32(2000 + i)
		}
		if r.Len != want {
			t.Fatalf("reference %d is %d, want %d", i, r.Len, want)
		}
	}
}

// A regular file reserves by its size, but never more than refsUpFront
// references (a sparse file's size says little about its chunks).
func TestFileRefsReserve(t *testing.T) {
	if got := refsWanted(source.FileInfo{Kind: source.KindFile, Size: 1 << 40}, 0); got != refsUpFront {
		t.Fatalf("a 1 TiB file reserved %d references, want %d", got, refsUpFront)
	}
	if got := refsWanted(source.FileInfo{Kind: source.KindSQLite, Size: 1 << 30, PageSize: 4096}, 1000); got < 1064 || got > 2000 {
		t.Fatalf("an incremental read of a 1000-page version reserved %d references", got)
	}
	if got := refsWanted(source.FileInfo{Kind: source.KindFile}, 0); got < 1 {
		t.Fatal("an empty file reserved nothing")
	}
}
