package source

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
)

// Incremental reads of a WAL database. docs/sqlite.md explains when a read
// may carry pages over from the previous snapshot and why that is safe;
// the short form: every change to a WAL database's content is a frame
// appended to its -wal file, and the database file itself changes only when
// a checkpoint copies frames into it. So while the -wal file is the same
// generation (same header: salts change on every restart) and still holds
// the frames the last snapshot was built on (same cumulative checksum at
// that frame), the pages that may differ are exactly the pages of the
// frames after it. When the -wal file was restarted, the database file must
// be unchanged (same stat identity), or the log restarted once and the
// previous generation's frames past the last snapshot are still in the
// file, their end shown; every frame of the new generation is taken as
// changed. In every other case the whole database is read.

const (
	walHdrSize      = 32
	walFrameHdrSize = 24
	shmHdrSize      = 48      // one copy of the wal-index header
	shmVersion      = 3007000 // WALINDEX_MAX_VERSION
)

// walMark records where a snapshot stood in the database's -wal file.
type walMark struct {
	Hdr   [walHdrSize]byte // the -wal header when the snapshot was read (zero: none)
	Frame uint32           // frames 1..Frame of that -wal are in the snapshot (a lower bound)
	Cksum [8]byte          // frame Frame's cumulative checksum, when Frame > 0
	// PageCount is the snapshot's page count.
	PageCount int64
	// DBSettled: the entry's ID was taken long enough after the database
	// file's last change that any later change shows in its stat.
	DBSettled bool
	// Sums are hashes of pages as the snapshot held them, those the reads
	// since this generation began read (sqlite_sums.go), for rule 3's
	// check; SumsKept says they were kept (false in a cache from before
	// they were: rule 3 is then not taken once).
	Sums     []byte
	SumsKept bool
	// unknown: the frame the wal-index named before the transaction was
	// not confirmed inside it (newMark); nothing may be built on this
	// mark, and it is never stored (gob leaves the field out too).
	unknown bool
}

// walFile reads a -wal file's header and frame headers.
type walFile struct {
	f interface {
		io.ReaderAt
		io.Closer
	}
	pageSize int
	hdr      [walHdrSize]byte
	// failed is the first read that failed other than at the end of the
	// file: the frames past it are unknown, not absent, so nothing read
	// from this file is trusted (stable reports false).
	failed error
}

// openWAL opens path and reads its header; nil when there is no -wal
// file or no valid header for a database of pageSize (openWALWhy tells
// the two apart).
func openWAL(path string, pageSize int) *walFile {
	w, _ := openWALWhy(path, pageSize)
	return w
}

// openWALWhy opens path and reads its header. With no -wal file, or one
// shorter than a header (SQLite reads no frame of it), it returns nil and
// "". A -wal it cannot read, or whose header is not one SQLite's recovery
// takes for a database of pageSize, gives nil and why: SQLite may read
// such a log differently from us (through a wal-index built before), or
// refuse it, so it is not the absence of one.
func openWALWhy(path string, pageSize int) (*walFile, string) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ""
	}
	if err != nil {
		return nil, fmt.Sprintf("opening the -wal file: %v", err)
	}
	w := &walFile{f: f, pageSize: pageSize}
	if err := w.readAt(w.hdr[:], 0); err != nil {
		f.Close()
		if w.failed != nil {
			return nil, fmt.Sprintf("reading the -wal file's header: %v", w.failed)
		}
		return nil, ""
	}
	if why := w.headerWhy(&w.hdr); why != "" {
		f.Close()
		return nil, "the -wal file's header " + why
	}
	return w, ""
}

func (w *walFile) close() { w.f.Close() }

// walVersion is the -wal file format version SQLite's recovery takes
// (wal.c, WAL_MAX_VERSION); with another it refuses the log.
const walVersion = 3007000

// headerWhy says what makes h other than a header SQLite's recovery takes
// for a database of this page size ("": nothing).
func (w *walFile) headerWhy(h *[walHdrSize]byte) string {
	be := binary.BigEndian
	switch magic, version, pageSize := be.Uint32(h[0:]), be.Uint32(h[4:]), be.Uint32(h[8:]); {
	case magic != 0x377f0682 && magic != 0x377f0683:
		return fmt.Sprintf("has magic %#x, not SQLite's", magic)
	case version != walVersion:
		return fmt.Sprintf("has file format version %d, not %d", version, walVersion)
	case pageSize != uint32(w.pageSize):
		return fmt.Sprintf("has page size %d, the database %d", pageSize, w.pageSize)
	}
	// SQLite's recovery refuses a header whose checksum does not match
	// (walIndexRecover), and its frames chain from that checksum.
	if s1, s2 := walHeaderChecksum(h); s1 != be.Uint32(h[24:]) || s2 != be.Uint32(h[28:]) {
		return "has a checksum that does not match its bytes"
	}
	return ""
}

// walHeaderChecksum is the checksum of a -wal header's first 24 bytes, as
// SQLite writes it at bytes 24–31 (wal.c, walChecksumBytes).
func walHeaderChecksum(h *[walHdrSize]byte) (s1, s2 uint32) {
	order := checksumOrder(h)
	for k := 0; k < 24; k += 8 {
		s1 += order.Uint32(h[k:]) + s2
		s2 += order.Uint32(h[k+4:]) + s1
	}
	return s1, s2
}

func (w *walFile) readHeader(h *[walHdrSize]byte) bool {
	return w.readAt(h[:], 0) == nil && w.headerWhy(h) == ""
}

// readAt reads len(p) bytes at off, noting a failure other than the end
// of the file in w.failed.
func (w *walFile) readAt(p []byte, off int64) error {
	_, err := w.f.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) && w.failed == nil {
		w.failed = err
	}
	return err
}

// stable reports whether the header still reads as it did when opened: a
// restart of the -wal rewrites it before any frame of the new generation.
// A -wal any read of which failed is not stable.
func (w *walFile) stable() bool {
	var h [walHdrSize]byte
	return w.readHeader(&h) && h == w.hdr && w.failed == nil
}

// unstableWhy says why stable reported false.
func (w *walFile) unstableWhy() string {
	if w.failed != nil {
		return fmt.Sprintf("reading the -wal file failed: %v", w.failed)
	}
	return "the -wal file was restarted during the read"
}

// frame reads the header of frame i (from 1); ok is false past the end or
// when the frame belongs to another generation (other salts).
func (w *walFile) frame(i uint32) (pgno uint32, cksum [8]byte, ok bool) {
	fh, ok := w.frameHdr(i)
	if !ok {
		return 0, cksum, false
	}
	copy(cksum[:], fh[16:24])
	return binary.BigEndian.Uint32(fh[0:]), cksum, true
}

// frameHdr reads the header of frame i, if it belongs to this generation.
func (w *walFile) frameHdr(i uint32) (fh [walFrameHdrSize]byte, ok bool) {
	if err := w.readAt(fh[:], w.slotOffset(i)); err != nil {
		return fh, false
	}
	return fh, bytes.Equal(fh[8:16], w.hdr[16:24])
}

// commitsAfter returns the pages of the frames from..end of this
// generation, and the checksums of the commit frames among them (a commit
// frame's header holds the database size after the commit; others 0).
func (w *walFile) commitsAfter(from uint32) (pages []int64, commits [][8]byte) {
	for i := from; ; i++ {
		fh, ok := w.frameHdr(i)
		if !ok {
			break
		}
		if pgno := binary.BigEndian.Uint32(fh[0:]); pgno != 0 {
			pages = append(pages, int64(pgno))
		}
		if binary.BigEndian.Uint32(fh[4:]) != 0 {
			commits = append(commits, [8]byte(fh[16:24]))
		}
	}
	return pages, commits
}

// pagesAfter returns the pages of the frames from..end of this generation,
// and the number of the last such frame. Frames past the last commit (a
// transaction being written) are included: reading a page too many only
// costs its bytes, and sqlite_dbpage returns the snapshot's version of it.
func (w *walFile) pagesAfter(from uint32) (pages []int64, last uint32) {
	last = from - 1
	seen := map[uint32]bool{}
	for i := from; ; i++ {
		pgno, _, ok := w.frame(i)
		if !ok {
			break
		}
		last = i
		if pgno != 0 && !seen[pgno] {
			seen[pgno] = true
			pages = append(pages, int64(pgno))
		}
	}
	slices.Sort(pages)
	return pages, last
}

// readPlan says how one read of a database goes: every page, or only the
// pages that may have changed since the previous snapshot (the others are
// carried over).
type readPlan struct {
	incremental bool
	why         string // why the whole database is read (for the debug log)
	changed     []int64
	// dbID, when set, must still be the database file's identity at the end
	// of the read (the plan relied on the file not changing).
	dbID *statID
	mark walMark
	// prevMark, for an incremental read of the same -wal generation, is
	// the previous snapshot's mark, at or before which the -wal holds
	// changed pages' previous versions; prev finds them (sqlite_prev.go).
	prevMark uint32
	prev     *prevPages
	// sumsBase, for a rule-1 read, is the previous mark, whose page
	// hashes the read's own add to (markSums); carried, for a rule-3
	// read, the one checkCarried checks against; checked counts the
	// pages it read from the database file.
	sumsBase *walMark
	carried  *walMark
	checked  int
}

// planRead decides how to read the snapshot the open read transaction sees.
// It runs after the transaction's first read, so the -wal frames it reads
// include every frame of the snapshot. prev is the cache entry of the
// previous version (nil: none); before is the database file's identity
// taken before the transaction began, and shm the wal-index header read
// between the two from shmFile, the read's own descriptor of the -shm;
// whole says when a whole read is due whatever the rules say; db gives the
// database file for rule 3's check (sqlite_sums.go).
func planRead(prev *cacheEntry, abs string, before statID, shmFile *os.File, shm shmHeader, pageSize int, pageCount int64, settled bool, whole wholeReads, db func() io.ReaderAt) readPlan {
	wal, walWhy := openWALWhy(abs+"-wal", pageSize)
	if wal != nil {
		defer wal.close()
	}
	inside := shmHeaderInside(shmFile) // after the -wal header: see newMark
	p := readPlan{why: "no previous version"}
	if prev != nil && prev.Token != nil && prev.Kind == KindSQLite && prev.Mark == nil {
		p.why = "the last read left no mark of its snapshot"
	}
	if prev != nil && prev.Token != nil && prev.Kind == KindSQLite && prev.Mark != nil {
		p = readPlan{why: whole.due(prev.WholeRead)}
		if p.why == "" {
			p.why = walWhy
		}
		if p.why == "" {
			p = incrementalPlan(prev, wal, [2]shmHeader{shm, inside}, before, pageSize, pageCount)
		}
		if p.incremental && wal != nil && !wal.stable() {
			p = readPlan{why: wal.unstableWhy()}
		}
		// The costly check last: a cheaper one may make the read whole.
		if p.incremental && p.carried != nil {
			p = checkCarried(p, db, pageSize, pageCount)
		}
		if p.incremental {
			p.prev = newPrevPages(abs, shmFile, wal, p.prevMark, p.changed, pageSize, prev.Mark.PageCount)
		}
	}
	if !p.incremental {
		p.prev = newWholePrev(abs, prev, before, wal, pageSize)
	}
	p.mark = newMark(wal, shm, inside, pageCount, settled)
	return p
}

// incrementalPlan applies the rules of docs/sqlite.md; wal is nil when
// there is no valid -wal file; shm are the wal-index headers read before
// the transaction and inside it. A rule-3 plan still needs checkCarried.
func incrementalPlan(prev *cacheEntry, wal *walFile, shm [2]shmHeader, before statID, pageSize int, pageCount int64) readPlan {
	m := prev.Mark
	switch {
	case prev.ID.Ino != before.Ino || prev.ID.Dev != before.Dev:
		return readPlan{why: "a different file at the path"}
	case prev.PageSize != pageSize:
		return readPlan{why: "the page size changed"}
	}
	var p readPlan
	switch {
	case wal != nil && m.Hdr == wal.hdr && m.Frame > 0 && (!sameFrame(wal, m.Frame, m.Cksum) || shmBehind(shm[0], wal, m.Frame) || shmBehind(shm[1], wal, m.Frame)):
		// Under one header SQLite only appends frames, and its wal-index
		// only grows. Frames the last read saw that are gone, or that the
		// index no longer counts, were dropped by a recovery that kept
		// the header (a damaged header: TestSQLiteWALRecoveredWithoutItsFrames).
		// The header read inside the transaction shows a recovery that
		// this transaction ran (TestSQLiteWALRecoveredByTheRead).
		return readPlan{why: "the -wal file no longer holds the frames the last read saw under the same header (SQLite recovered the log without them)"}
	case wal != nil && m.Hdr == wal.hdr && sameFrame(wal, m.Frame, m.Cksum):
		// Same generation, still holding the frames the last snapshot saw.
		pages, _ := wal.pagesAfter(m.Frame + 1)
		p = readPlan{incremental: true, changed: pages, prevMark: m.Frame, sumsBase: m}
	case m.DBSettled && prev.ID == before && m.Frame > 0 && (wal == nil || m.Hdr != wal.hdr && !restartedOnce(m.Hdr, wal.hdr)):
		// A new -wal generation that no restart of the last one made, or
		// no log at all, and the frames the last read saw never reached
		// the database file: a recovery dropped them
		// (TestSQLiteWALRecoveredFirstGeneration, ...ThenClosed). A clean
		// close and reopen, or a TRUNCATE, after a checkpoint that had
		// copied them all looks the same; it reads whole once.
		return readPlan{why: "a new -wal generation that no restart made, over an unchanged database file: the frames the last read saw may have been dropped"}
	case m.DBSettled && prev.ID == before:
		// The database file is as it was: only this generation's frames
		// (if any) can hold changes.
		p = readPlan{incremental: true, dbID: &before}
		if wal != nil {
			p.changed, _ = wal.pagesAfter(1)
		}
	case wal != nil && restartedOnce(m.Hdr, wal.hdr):
		// The log restarted once: the checkpoint before it copied the
		// previous generation into the database file, frames the last
		// snapshot never saw included. They are still in the slots past
		// the mark unless this generation wrote over them.
		unseen := wal.previousTail(m)
		if unseen.gone != "" {
			return readPlan{why: "the -wal file was restarted over frames the last read never saw: " + unseen.gone}
		}
		pages, _ := wal.pagesAfter(1)
		// The app may be writing the slots while they are read: a frame
		// read half written could show an end that is not there. The
		// same headers twice, around the new generation's frames, are not
		// a frame being written.
		if !wal.slotsUnchanged(m.Frame+1, unseen.hdrs) {
			return readPlan{why: "the -wal file was written over frames the last read never saw while they were read"}
		}
		// Nor can the -wal tell this restart from one after a recovery
		// that dropped the frames the last read saw: planRead checks the
		// pages carried (checkCarried).
		p = readPlan{incremental: true, changed: mergePages(unseen.pages, pages), carried: m}
	default:
		return readPlan{why: "the -wal file was checkpointed or restarted and the database file changed"}
	}
	if wal != nil && wal.failed != nil {
		return readPlan{why: fmt.Sprintf("reading the -wal file: %v", wal.failed)}
	}
	p.changed = keepPages(p.changed, pageCount)
	// Pages added since the last snapshot must have come through frames.
	for pg := m.PageCount + 1; pg <= pageCount; pg++ {
		if _, found := slices.BinarySearch(p.changed, pg); !found {
			return readPlan{why: "the page count grew by pages no frame holds"}
		}
	}
	return p
}

// restartedOnce reports whether cur is the header of the -wal generation
// right after old's. A restart adds one to salt-1 (and draws salt-2); a
// connection that never restarted the log draws both when it writes a
// header (a new -wal file). The checkpoint sequence number is not
// compared: each connection keeps its own count and writes it.
func restartedOnce(old, cur [walHdrSize]byte) bool {
	be := binary.BigEndian
	return old != [walHdrSize]byte{} && bytes.Equal(old[0:12], cur[0:12]) &&
		be.Uint32(cur[16:]) == be.Uint32(old[16:])+1
}

// prevTail is what previousTail found.
type prevTail struct {
	pages []int64
	// hdrs are the frame headers of the slots it read, from the mark's
	// next one to the one that showed their end.
	hdrs [][walFrameHdrSize]byte
	gone string // why no slot showed it ("": one did)
}

// previousTail returns the pages of the frames the previous generation
// (header old) wrote in slots from on, once their end is shown: a slot past
// them that it never wrote, which holds another generation's frame (other
// salts, neither zero nor this generation's). Otherwise gone says why not:
// this generation wrote over one of them (its salts, or zero salts: a
// transaction that rewrote a page it had spilled writes its later frames
// with zero salts until it commits, wal.c's walEncodeFrame), or the file
// ends first (a journal_size_limit truncates the -wal after a restart, so
// the end of the file shows nothing). Each of its frames must continue
// the generation's checksum chain from the mark's frame, as SQLite's
// recovery requires: a header written in two parts with a sync between
// them (a commit padded to the sector without power-safe overwrite) or
// torn by a power loss holds a new page number under the old salts, and
// would name a page the lost frame did not. Frames past the previous
// generation's last commit are taken too: a page too many only costs its
// read.
func (w *walFile) previousTail(m *walMark) prevTail {
	old := &m.Hdr
	chain := walChain{order: checksumOrder(old)}
	if m.Frame == 0 {
		chain.set([8]byte(old[24:32])) // the first frame chains from the header
	} else {
		chain.set(m.Cksum)
	}
	page := make([]byte, w.pageSize)
	var t prevTail
	seen := map[uint32]bool{}
	for i := m.Frame + 1; ; i++ {
		var fh [walFrameHdrSize]byte
		off := w.slotOffset(i)
		if err := w.readAt(fh[:], off); err != nil {
			if w.failed != nil {
				return prevTail{gone: fmt.Sprintf("reading them failed: %v", w.failed)}
			}
			return prevTail{gone: "the file ends before they do"}
		}
		t.hdrs = append(t.hdrs, fh)
		switch salts := fh[8:16]; {
		case bytes.Equal(salts, old[16:24]):
			if err := w.readAt(page, off+walFrameHdrSize); err != nil || !chain.next(fh, page) {
				return prevTail{gone: "one of them does not continue the frames before it"}
			}
			if pgno := binary.BigEndian.Uint32(fh[0:]); pgno != 0 && !seen[pgno] {
				seen[pgno] = true
				t.pages = append(t.pages, int64(pgno))
			}
		case bytes.Equal(salts, w.hdr[16:24]):
			return prevTail{gone: "the new generation wrote over them"}
		case [8]byte(salts) == [8]byte{}:
			return prevTail{gone: "a transaction being written wrote over them"}
		default:
			slices.Sort(t.pages)
			return t
		}
	}
}

// slotsUnchanged reports whether the slots from from on still hold the
// frame headers hdrs, which previousTail read there. That walk read each
// frame's page after its header and found the checksum chain unbroken,
// and each checksum covers its frame's page and every frame before it. The
// new generation writes a slot's header (with its own salts, or zero salts)
// before its page, and never a header with another generation's salts; so
// a slot whose header reads again as the walk found it, salts and checksum
// included, was not written since the walk read it: the same frame, whose
// page need not be read again. The slot that showed the end likewise holds
// the same frame of another generation.
func (w *walFile) slotsUnchanged(from uint32, hdrs [][walFrameHdrSize]byte) bool {
	for k, want := range hdrs {
		var fh [walFrameHdrSize]byte
		if err := w.readAt(fh[:], w.slotOffset(from+uint32(k))); err != nil || fh != want {
			return false
		}
	}
	return true
}

// slotOffset is where frame slot i (from 1) begins in the -wal file.
func (w *walFile) slotOffset(i uint32) int64 {
	return int64(walHdrSize) + int64(i-1)*int64(walFrameHdrSize+w.pageSize)
}

// walChain is a -wal generation's running checksum (wal.c,
// walChecksumBytes): every frame's covers its header's first 8 bytes and
// its page, starting from the frame before it, or from the header's for
// the first frame.
type walChain struct {
	order  binary.ByteOrder
	s1, s2 uint32
}

// checksumOrder is the byte order of a -wal's checksums: big-endian words
// when its magic's low bit is set.
func checksumOrder(hdr *[walHdrSize]byte) binary.ByteOrder {
	if binary.BigEndian.Uint32(hdr[0:])&1 == 1 {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

func (c *walChain) set(cksum [8]byte) {
	c.s1, c.s2 = binary.BigEndian.Uint32(cksum[0:]), binary.BigEndian.Uint32(cksum[4:])
}

// next reports whether the frame with header fh and page continues the
// chain, and moves the chain to it.
func (c *walChain) next(fh [walFrameHdrSize]byte, page []byte) bool {
	for _, b := range [][]byte{fh[:8], page} {
		for k := 0; k+8 <= len(b); k += 8 {
			c.s1 += c.order.Uint32(b[k:]) + c.s2
			c.s2 += c.order.Uint32(b[k+4:]) + c.s1
		}
	}
	return binary.BigEndian.Uint32(fh[16:]) == c.s1 && binary.BigEndian.Uint32(fh[20:]) == c.s2
}

// mergePages returns the sorted union of two sorted page lists.
func mergePages(a, b []int64) []int64 {
	out := append(append(make([]int64, 0, len(a)+len(b)), a...), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// shmBehind reports whether the wal-index counts fewer frames of wal's
// generation than frame.
func shmBehind(shm shmHeader, wal *walFile, frame uint32) bool {
	return shm.valid && shm.salt == [8]byte(wal.hdr[16:24]) && shm.mxFrame < frame
}

// sameFrame reports whether frame i of wal is the frame a mark recorded.
func sameFrame(wal *walFile, i uint32, cksum [8]byte) bool {
	if i == 0 {
		return true
	}
	_, got, ok := wal.frame(i)
	return ok && got == cksum
}

// keepPages drops pages past the snapshot's end (a truncated database, or
// a frame header being written).
func keepPages(pages []int64, pageCount int64) []int64 {
	n, _ := slices.BinarySearch(pages, pageCount+1)
	return pages[:n]
}

// newMark records where this snapshot stands, for the next read: frame
// before.mxFrame, from the wal-index header read before the transaction
// began, if it is a frame of the -wal generation read now (its salts, and
// slot mxFrame's checksum) and inside, the header read in the transaction
// after the read that fixed the snapshot and after the -wal header,
// confirms it: the same salts and at least as many frames.
//
// Why inside: our own transaction may be the one that recovers the log
// (the first opener after a crash rebuilds the wal-index). A stale header
// left in the -shm then names frame N while the snapshot holds R < N
// (TestSQLiteWALRecoveredByTheRead). Without a recovery, under one set of
// salts the wal-index only grows, so before <= the snapshot's <= inside; a
// restart shows as other salts, a recovery as fewer frames. A recovery
// below N followed by appends that bring the count back to N (a writer
// right after our recovery) is not seen by the count, but those appends
// wrote slot N before the wal-index counted it, and the slot is read after
// inside: its checksum is then not before's.
//
// A frame not confirmed makes the mark unknown, and it is not stored: the
// next read is whole. Frame 0 would say the snapshot holds no frame of
// this generation, which rules 1 and 2 take at its word (no check for
// frames a recovery dropped); it may hold R. That costs a whole read
// only after a recovery, or a restart between the two header reads.
func newMark(wal *walFile, before, inside shmHeader, pageCount int64, settled bool) walMark {
	m := walMark{PageCount: pageCount, DBSettled: settled}
	if wal == nil {
		return m
	}
	m.Hdr = wal.hdr
	salt := [8]byte(wal.hdr[16:24])
	if !before.valid || before.mxFrame == 0 || before.salt != salt {
		// No frame named before. Frame 0 says the snapshot reads no frame
		// of the log: only when the header read inside counts none either
		// (a snapshot that reads frames keeps the log from restarting
		// under it, so inside counts at least those). A torn or stale
		// header before, and frames inside, leave the mark unknown
		// (TestSQLiteWALIndexTornBeforeTheRead).
		if !inside.valid || inside.mxFrame != 0 {
			m.unknown = true
		}
		return m
	}
	_, cksum, ok := wal.frame(before.mxFrame)
	if !ok || cksum != before.cksum || !inside.valid || inside.salt != salt || inside.mxFrame < before.mxFrame {
		m.unknown = true
		return m
	}
	m.Frame, m.Cksum = before.mxFrame, cksum
	return m
}

// shmCkptLockByte is the byte of the -shm that SQLite's unix VFS locks for
// WAL_CKPT_LOCK: its locks start at byte 120 (os_unix.c, UNIX_SHM_BASE),
// the checkpoint lock is the second.
const shmCkptLockByte = 120 + 1
