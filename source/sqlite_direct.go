package source

import (
	"errors"
	"io/fs"
	"os"
	"slices"
)

// Direct reads of a whole read in pieces: the pages of the snapshot that
// no frame of the log holds are read from the database file with one pread
// per batch, instead of page by page through sqlite_dbpage (a pread each,
// inside SQLite, plus a row each). docs/sqlite.md says why the database
// file's bytes are the snapshot's for such a page while the transaction is
// open: in short, a checkpoint copies into the database file only frames
// up to the oldest open reader's mark, and the log is not restarted while
// a reader holds frames of it; a reader of the database file alone (the log
// fully copied when it began) holds off every checkpoint's copying.

// framedSet is the set of pages the current generation of the -wal holds
// frames of. Frames 1..last (whose checksum is cksum) were committed when
// read, so the next transaction reads only the frames after them; tail
// are the pages first seen after last, read again each time.
type framedSet struct {
	ok    bool // the set is known for the open transaction
	hdr   [walHdrSize]byte
	last  uint32
	cksum [8]byte
	pages map[int64]bool
	tail  []int64
}

// refresh brings the set up to date inside a transaction whose snapshot is
// fixed, and whose mark is mark: every frame up to the snapshot's is in
// the log by then. ok is false when the log cannot be read with certainty
// (then every page is read through SQLite).
//
// Frames after the wal-index's count can be written again under the same
// header: a rolled-back transaction's, or those a recovery dropped (our
// own transaction's, when a crash left the -shm stale: frames R+1..N
// stay in the file with the header's salts, and the app writes its next
// frames over R+1..). So only frames up to the transaction's mark, which
// were committed, are carried to the next transaction; an unknown mark
// carries nothing.
func (s *framedSet) refresh(walPath string, pageSize int, mark walMark) {
	s.ok = false
	fi, err := os.Stat(walPath)
	switch {
	case errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Size() == 0):
		// No log, or an empty one: no page has a frame.
		*s = framedSet{ok: true, pages: map[int64]bool{}}
		return
	case err != nil:
		return
	}
	wal := openWAL(walPath, pageSize)
	if wal == nil {
		return // a log SQLite may read differently from us
	}
	defer wal.close()
	var keep uint32 // frames the set may carry
	if wal.hdr == mark.Hdr && !mark.unknown {
		keep = mark.Frame
	}
	from := uint32(1)
	if s.pages != nil && wal.hdr == s.hdr && keep >= s.last && sameFrame(wal, s.last, s.cksum) {
		from = s.last + 1
		for _, pg := range s.tail {
			delete(s.pages, pg)
		}
	} else {
		s.pages, s.last, s.cksum = map[int64]bool{}, 0, [8]byte{}
	}
	s.tail = s.tail[:0]
	for i := from; ; i++ {
		pgno, cksum, ok := wal.frame(i)
		if !ok {
			break
		}
		if i <= keep {
			s.last, s.cksum = i, cksum
		} else if !s.pages[int64(pgno)] {
			s.tail = append(s.tail, int64(pgno))
		}
		s.pages[int64(pgno)] = true
	}
	if !wal.stable() {
		s.pages = nil
		return
	}
	s.hdr, s.ok = wal.hdr, true
}

// refreshFramed brings the set of framed pages up to date from the -wal at
// the path, and turns direct reads off for the rest of the read when the
// database at the path is not the file the read began on, before or after:
// the path's -wal then no longer describes the log SQLite reads (an app
// that replaced its database by rename), and the old file lacks the
// frames its own log holds.
func (c *sqliteContent) refreshFramed() {
	p := c.pieced
	if !p.samePathFile() {
		c.direct = false
	}
	p.framed.refresh(p.abs+"-wal", c.pageSize, p.view.mark)
	if !p.samePathFile() {
		c.direct = false
	}
}

// samePathFile reports whether the path still names the file the read
// began on.
func (p *pieces) samePathFile() bool {
	id, err := lstatID(p.abs)
	return err == nil && id.Ino == p.file.Ino && id.Dev == p.file.Dev
}

// openDirect opens the database file for direct reads, if it is the file
// at the path the read began on (same inode on the same device; where the
// platform has no inode, direct reads are off). The descriptor is closed
// only after the connection (closing it would drop SQLite's locks).
func (c *sqliteContent) openDirect(abs string, file statID) {
	if file.Ino == 0 {
		return
	}
	f := c.openDB(abs)
	if f == nil {
		return
	}
	fi, err := f.Stat()
	now, errNow := lstatID(abs)
	c.direct = err == nil && errNow == nil && idOf(fi).Ino == file.Ino && idOf(fi).Dev == file.Dev &&
		now.Ino == file.Ino && now.Dev == file.Dev
}

// readBatch appends pages from..to to the piece's buffer: runs of pages no
// frame holds from the database file, the others through SQLite. It
// returns how many, fewer when a look at the checkpoint lock is due
// (lookDue) before the batch is done; at least one.
func (c *sqliteContent) readBatch(from, to int64) (int64, error) {
	p := c.pieced
	if !c.direct || !p.framed.ok {
		return c.readSQL(from, to)
	}
	pg := from
	for pg <= to {
		end := pg
		framed := p.framed.pages[pg]
		for end < to && p.framed.pages[end+1] == framed {
			end++
		}
		if framed || !c.readDirect(pg, end) {
			n, err := c.readSQL(pg, end)
			if err != nil {
				return 0, err
			}
			end = pg + n - 1
		}
		pg = end + 1
		if p.lookDue() {
			break
		}
	}
	return pg - from, nil
}

// readDirect appends pages from..to to the piece's buffer from the
// database file; false when it cannot (then SQLite reads them).
func (c *sqliteContent) readDirect(from, to int64) bool {
	p := c.pieced
	n := int(to-from+1) * c.pageSize
	start := len(p.buf)
	p.buf = slices.Grow(p.buf, n)[:start+n]
	if got, _ := c.dbf.ReadAt(p.buf[start:], (from-1)*int64(c.pageSize)); got != n {
		// Past the file's end (SQLite reads zeros there) or failed.
		p.buf = p.buf[:start]
		return false
	}
	p.direct += to - from + 1
	return true
}
