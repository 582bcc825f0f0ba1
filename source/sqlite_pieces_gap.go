package source

import (
	"os"
	"slices"
)

// The stitch between two transactions of a read in pieces (sqlite_pieces.go,
// sqlite_incr_pieces.go): what each saw of the log, and which pages may
// have changed between their snapshots.

// txView is what one transaction saw of the log: its mark, the wal-index
// header read inside it, and the frames after the mark: their pages, and
// the checksums of the commit frames among them (tailOK: read whole, the
// log unchanged meanwhile).
type txView struct {
	mark    walMark
	shm     shmHeader
	tail    []int64
	commits [][8]byte
	tailOK  bool
}

// newView reads the frames after mark in wal (nil: no -wal header).
func newView(wal *walFile, mark walMark, shm shmHeader) txView {
	v := txView{mark: mark, shm: shm}
	// Only frames of the mark's generation follow it: a -wal restarted
	// since the mark was taken (a reader on read-mark 0 does not hold the
	// restart back) leaves no tail, and no stitch is trusted on it.
	if wal != nil && (wal.hdr == mark.Hdr || mark.Hdr == [walHdrSize]byte{}) {
		v.tail, v.commits = wal.commitsAfter(mark.Frame + 1)
		v.tailOK = wal.stable()
	}
	return v
}

// saw reports whether cksum is the checksum of a commit frame this view
// saw: the mark's frame, or a commit frame after it.
func (v txView) saw(cksum [8]byte) bool {
	if v.mark.Frame > 0 && cksum == v.mark.Cksum {
		return true
	}
	return v.tailOK && slices.Contains(v.commits, cksum)
}

// gap returns the pages that may have changed between the previous
// transaction's snapshot and this one's, what this one saw of the log,
// and why the pages cannot be known ("" when they can).
func (p *pieces) gap(pageSize int, shm *os.File, shmBefore shmHeader, pageCount int64) ([]int64, txView, string) {
	if p.long {
		return nil, p.view, ""
	}
	wal := openWAL(p.abs+"-wal", pageSize)
	if wal != nil {
		defer wal.close()
	}
	inside := shmHeaderInside(shm) // before newMark reads the frame: see there
	view := newView(wal, newMark(wal, shmBefore, inside, pageCount, false), inside)
	prev := p.view
	if id, err := lstatID(p.abs); err != nil || id.Ino != p.file.Ino || id.Dev != p.file.Dev {
		return nil, view, "a different file at the path"
	}
	switch {
	case wal == nil && prev.mark.Hdr == [walHdrSize]byte{}:
		// No frames then and now; a commit in between changes the
		// wal-index's last frame checksum, even when a TRUNCATE
		// checkpoint emptied the -wal again since.
		if !emptyLog(prev.shm) || !emptyLog(view.shm) || prev.shm.cksum != view.shm.cksum {
			return nil, view, "the -wal file was written and emptied between two transactions"
		}
		return nil, view, ""
	case wal == nil:
		// Emptied (a TRUNCATE checkpoint). The wal-index keeps the last
		// commit's checksum: if the previous transaction saw that commit,
		// every frame copied into the database file since is one it saw.
		if !emptyLog(view.shm) || !prev.saw(view.shm.cksum) {
			return nil, view, "the -wal file was emptied after commits this read did not see"
		}
		return prev.tail, view, ""
	case prev.mark.Hdr != wal.hdr || !sameFrame(wal, prev.mark.Frame, prev.mark.Cksum):
		return nil, view, "the -wal file was restarted between two transactions"
	}
	// A mark the wal-index did not confirm (newMark) names frame 0: every
	// frame of the log counts as changed, a superset of those the
	// previous snapshot lacks (frames after a recovery's end included).
	pages, _ := wal.pagesAfter(prev.mark.Frame + 1)
	if !wal.stable() {
		return nil, view, wal.unstableWhy()
	}
	return pages, view, ""
}

// emptyLog reports whether the wal-index header is valid and counts no frame.
func emptyLog(h shmHeader) bool { return h.valid && h.mxFrame == 0 }
