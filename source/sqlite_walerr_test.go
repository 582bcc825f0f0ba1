package source

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// failingAt is a -wal file whose reads from offset at on fail as a disk
// would (EIO), not as its end.
type failingAt struct {
	r  io.ReaderAt
	c  io.Closer
	at int64
}

func (f failingAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.at {
		return 0, syscall.EIO
	}
	return f.r.ReadAt(p, off)
}

func (f failingAt) Close() error { return f.c.Close() }

// TestWALReadErrorIsNotItsEnd: a frame header that fails to read (an I/O
// error) is not the end of the log. Taken as the end, the frames past it,
// committed and in the snapshot, would be carried over from the previous
// version: a wrong read. The read must be whole instead.
func TestWALReadErrorIsNotItsEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "msgstore.db")
	db := appDB(t, path)
	createMessages(t, db, 100)
	wal := openWAL(path+"-wal", 4096)
	if wal == nil {
		t.Fatal("no -wal")
	}
	mark := frameCount(wal)
	_, cksum, _ := wal.frame(mark)
	wal.close()
	for id := 101; id <= 120; id++ {
		insertMessage(t, db, id)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	before := idOf(fi)
	prev := &cacheEntry{Kind: KindSQLite, ID: before, PageSize: 4096,
		Mark: &walMark{Frame: mark, Cksum: cksum, PageCount: 1 << 20}}
	for name, failFrom := range map[string]uint32{"a frame after the mark": mark + 5, "the frame after the mark": mark + 1} {
		t.Run(name, func(t *testing.T) {
			wal := openWAL(path+"-wal", 4096)
			if wal == nil {
				t.Fatal("no -wal")
			}
			prev.Mark.Hdr = wal.hdr
			f := wal.f
			wal.f = failingAt{r: f, c: f, at: int64(walHdrSize) + int64(failFrom-1)*int64(walFrameHdrSize+4096)}
			defer wal.close()
			p := incrementalPlan(prev, wal, before, 4096, 1<<20)
			if p.incremental {
				t.Fatalf("a -wal whose frame %d failed to read (frames to %d) was read incrementally, %d pages changed", failFrom, frameCount(openWAL(path+"-wal", 4096)), len(p.changed))
			}
			if !strings.Contains(p.why, "input/output error") {
				t.Errorf("whole read because %q, want the read error named", p.why)
			}
		})
	}
}

// frameCount is the number of frames of wal's generation.
func frameCount(wal *walFile) uint32 {
	var n uint32
	for {
		if _, _, ok := wal.frame(n + 1); !ok {
			return n
		}
		n++
	}
}
