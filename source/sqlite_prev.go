package source

import (
	"bytes"
	"encoding/binary"
	"os"
)

// The previous version of a changed page (docs/sqlite.md). The backup
// compresses a page that changed on its version in the last snapshot, and
// that version is usually still on this machine: in the -wal, as the last
// frame of the page at or before the last snapshot's mark, or in the
// database file when no frame of the page is in the log (nothing since
// that snapshot was checkpointed over it). What is read here is a guess,
// not a snapshot: a checkpoint or a restart of the log may have changed
// those bytes since. The backup uses it only when its keyed id is the
// last snapshot's page, so any guess is safe and a wrong one only costs
// compression.

// maxPrevScan bounds the frames looked at, back from the mark, to find
// the frames of the changed pages, inside the read transaction: their page
// numbers in the wal-index (one read), or, when it cannot be read, their
// headers (one read each). A page whose frame lies further back is looked
// for in the database file (where a checkpoint has likely put it).
const maxPrevScan = 4096

// prevPages reads what may be the previous versions of a database's
// changed pages.
type prevPages struct {
	dbPath, walPath string
	pageSize        int
	pageCount       int64 // the previous snapshot's: later pages had none
	// frames maps a changed page to the last frame of the -wal generation
	// hdr at or before the mark that holds it; other pages are read from
	// the database file.
	frames map[int64]uint32
	hdr    [walHdrSize]byte
	// only, when set (a whole read), limits the guesses to these pages.
	only map[int64]bool
	// delivered counts the pages a whole read delivered in order.
	delivered int64

	db, wal   *os.File
	dbFailed  bool
	walFailed bool
	buf       []byte
}

// newPrevPages finds where the previous versions of changed lie: wal is
// the -wal file the plan read (nil: none), mark the last frame of it the
// previous snapshot certainly included (0 when the log was restarted
// since: then every previous version is in the database file), prevCount
// the previous snapshot's page count, shm the read's own descriptor of the
// -shm (nil: none; see shmHeaderOf for why it must be that one).
func newPrevPages(abs string, shm *os.File, wal *walFile, mark uint32, changed []int64, pageSize int, prevCount int64) *prevPages {
	p := &prevPages{dbPath: abs, walPath: abs + "-wal", pageSize: pageSize, pageCount: prevCount}
	if wal == nil || mark == 0 || len(changed) == 0 {
		return p
	}
	p.hdr = wal.hdr
	want := make(map[uint32]bool, len(changed))
	for _, pg := range changed {
		if pg <= prevCount { // a page added since has no previous version
			want[uint32(pg)] = true
		}
	}
	p.frames = make(map[int64]uint32, len(want))
	lo := uint32(1)
	if mark > maxPrevScan {
		lo = mark - maxPrevScan + 1
	}
	pgnos := shmPages(shm, lo, mark)
	for i := mark; i >= lo && len(p.frames) < len(want); i-- {
		var pgno uint32
		if pgnos != nil {
			pgno = pgnos[i-lo]
		} else if pgno, _, _ = wal.frame(i); pgno == 0 {
			break
		}
		if _, seen := p.frames[int64(pgno)]; want[pgno] && !seen {
			p.frames[int64(pgno)] = i
		}
	}
	return p
}

// The wal-index (-shm) keeps the page number of every frame of the log
// in arrays (SQLite's wal.c): the first 32 KiB block holds frames 1 to
// 4062 after its 136-byte header, each later block 4096 frames, each
// array followed by a hash table. Reading the array costs one read where
// the frame headers cost one per frame. The numbers are only guesses
// (readFrame checks each frame it uses), in the writer's byte order.
const (
	shmIndexHdr   = 136
	shmBlock      = 32 << 10
	shmFirstPages = 4062
	shmBlockPages = 4096
)

// shmPages returns the page numbers of frames lo..hi from the wal-index
// f, or nil when it cannot be read. f is the read's own descriptor: one
// opened and closed here would drop the read's lock (see shmHeaderOf).
func shmPages(f *os.File, lo, hi uint32) []uint32 {
	if f == nil {
		return nil
	}
	out := make([]uint32, 0, hi-lo+1)
	var buf []byte
	for i := lo; i <= hi; {
		// The run of frames i.. that lies in one block's array.
		off, n := shmSlot(i), uint32(shmBlockPages)
		if i <= shmFirstPages {
			n = shmFirstPages - i + 1
		} else {
			n = shmBlockPages - (i-shmFirstPages-1)%shmBlockPages
		}
		n = min(n, hi-i+1)
		if cap(buf) < int(4*n) {
			buf = make([]byte, 4*n)
		}
		b := buf[:4*n]
		if _, err := f.ReadAt(b, off); err != nil {
			return nil
		}
		for k := range n {
			out = append(out, binary.NativeEndian.Uint32(b[4*k:]))
		}
		i += n
	}
	return out
}

// shmSlot is where the page number of frame i lies in the wal-index.
func shmSlot(i uint32) int64 {
	if i <= shmFirstPages {
		return shmIndexHdr + 4*int64(i-1)
	}
	j := int64(i - shmFirstPages - 1)
	return (1+j/shmBlockPages)*shmBlock + 4*(j%shmBlockPages)
}

// newWholePrev is prevPages for a whole read of a database whose previous
// version the cache knows: nothing says which pages changed, but those
// with a frame in the -wal likely did, and when no checkpoint ran since
// the last read (a read that only could not trust the database file's
// stat, taken too soon after it changed), the database file still holds
// their previous versions. Other pages get none: reading the whole file a
// second time would cost more than it saves.
func newWholePrev(abs string, prev *cacheEntry, before statID, wal *walFile, pageSize int) *prevPages {
	if wal == nil || prev == nil || prev.Token == nil || prev.Kind != KindSQLite || prev.Mark == nil ||
		prev.ID.Ino != before.Ino || prev.ID.Dev != before.Dev || prev.PageSize != pageSize {
		return nil
	}
	pages, _ := wal.pagesAfter(1)
	if len(pages) == 0 {
		return nil
	}
	p := &prevPages{dbPath: abs, walPath: abs + "-wal", pageSize: pageSize, pageCount: prev.Mark.PageCount,
		only: make(map[int64]bool, len(pages))}
	for _, pg := range pages {
		p.only[pg] = true
	}
	return p
}

// next returns the guess for the next page a whole read delivers in
// order (nil for pages without one).
func (p *prevPages) next() []byte {
	if p == nil {
		return nil
	}
	p.delivered++
	return p.read(p.delivered)
}

// read returns a copy of what may be page pgno's previous version, or nil
// when it cannot be read.
func (p *prevPages) read(pgno int64) []byte {
	if p == nil || pgno > p.pageCount || (p.only != nil && !p.only[pgno]) {
		return nil
	}
	if i, ok := p.frames[pgno]; ok {
		return p.readFrame(pgno, i)
	}
	f := p.open(&p.db, &p.dbFailed, p.dbPath)
	if f == nil {
		return nil
	}
	out := make([]byte, p.pageSize)
	if _, err := f.ReadAt(out, (pgno-1)*int64(p.pageSize)); err != nil {
		return nil
	}
	return out
}

// readFrame reads frame i of the -wal, if it still holds page pgno of the
// generation the frame was found in.
func (p *prevPages) readFrame(pgno int64, i uint32) []byte {
	f := p.open(&p.wal, &p.walFailed, p.walPath)
	if f == nil {
		return nil
	}
	n := walFrameHdrSize + p.pageSize
	if cap(p.buf) < n {
		p.buf = make([]byte, n)
	}
	b := p.buf[:n]
	if _, err := f.ReadAt(b, int64(walHdrSize)+int64(i-1)*int64(n)); err != nil {
		return nil
	}
	if binary.BigEndian.Uint32(b[0:]) != uint32(pgno) || !bytes.Equal(b[8:16], p.hdr[16:24]) {
		return nil
	}
	return bytes.Clone(b[walFrameHdrSize:])
}

// open opens path once; a failure is not retried.
func (p *prevPages) open(f **os.File, failed *bool, path string) *os.File {
	if *f == nil && !*failed {
		var err error
		if *f, err = os.Open(path); err != nil {
			*f, *failed = nil, true
		}
	}
	return *f
}

// close closes the files; safe on nil and twice.
func (p *prevPages) close() {
	if p == nil {
		return
	}
	for _, f := range []**os.File{&p.db, &p.wal} {
		if *f != nil {
			(*f).Close()
			*f = nil
		}
	}
	p.dbFailed, p.walFailed = true, true // no reads after close
}
