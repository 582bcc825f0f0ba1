package source

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"go.uber.org/zap"
)

// readResult is the outcome of one attempt at reading a file.
type readResult int

const (
	readDone    readResult = iota // File succeeded, entry stored
	readChanged                   // changed while read: try again
	readLater                     // cannot be read consistently now: keep the previous version
	readSkipped                   // vanished: left out (Warn already sent)
	readDenied                    // exists but cannot be read: keep the previous version
)

// file visits one regular file and reports whether it carries the SQLite
// header (or may: one that cannot be read counts as a database).
func (w *walker) file(rel, abs string, fi fs.FileInfo) (bool, error) {
	id := idOf(fi)
	prev, hasPrev := w.cache.lookup(rel)
	if hasPrev && w.unchanged(rel, prev, id, fi.Mode(), abs) {
		w.cache.put(rel, prev)
		if err := w.v.Unchanged(prev.info(rel), prev.Token); err != nil {
			return prev.DBHeader, visitErr("unchanged file", rel, err)
		}
		return prev.DBHeader, nil
	}

	var lastErr error
	lastIsDB := prev.DBHeader
	// base is the version an incremental read of a database builds on;
	// after a failed attempt the whole database is read.
	var base *cacheEntry
	if hasPrev && w.s.opts.CarryPages {
		base = &prev
	}
	for attempt := 0; attempt <= changedRetries; attempt++ {
		res, isDB, err := w.readOnce(rel, abs, base)
		switch res {
		case readDone, readSkipped:
			return isDB, err
		case readLater:
			return isDB, w.leaveForNextCycle(rel, prev, hasPrev, err)
		case readDenied:
			return isDB, w.keepUnreadable(rel, prev, hasPrev, err)
		case readChanged:
			lastErr, lastIsDB, base = err, isDB, nil
			w.s.log.Debug("file changed while it was read", zap.String("path", rel), zap.Int("attempt", attempt+1))
		}
	}
	return lastIsDB, w.leaveForNextCycle(rel, prev, hasPrev,
		fmt.Errorf("kept changing during %d reads: %w", changedRetries+1, lastErr))
}

// unchanged reports whether the cache entry still describes the file, and
// for a database, whether it is not due for a whole read.
func (w *walker) unchanged(rel string, prev cacheEntry, id statID, mode fs.FileMode, abs string) bool {
	if prev.Reread || prev.ID != id || prev.Mode != mode {
		return false
	}
	if prev.Kind != KindSQLite {
		return true
	}
	if w.wholeReads(rel, w.s.now()).due(prev.WholeRead) != "" {
		return false
	}
	// A commit in WAL mode touches only the -wal file.
	wal, err := lstatID(abs + "-wal")
	return err == nil && wal == prev.WalID
}

// info is the FileInfo of the version the entry's token stands for.
func (e cacheEntry) info(rel string) FileInfo {
	return FileInfo{Path: rel, Kind: e.Kind, Mode: e.Mode, ModTime: time.Unix(0, e.ID.MtimeNs), Size: e.Size, PageSize: e.PageSize}
}

// leaveForNextCycle reports why a file could not be read now and, if an
// earlier version is stored, keeps that one in this backup.
func (w *walker) leaveForNextCycle(rel string, prev cacheEntry, hasPrev bool, why error) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if !hasPrev || prev.Token == nil {
		w.v.Warn(rel, fmt.Errorf("could not read a consistent copy, leaving it out of this backup: %w", why))
		return nil
	}
	w.v.Warn(rel, fmt.Errorf("could not read a consistent copy, keeping the previous version until the next cycle: %w", why))
	prev.Reread = true
	w.cache.put(rel, prev)
	if err := w.v.Unchanged(prev.info(rel), prev.Token); err != nil {
		return visitErr("unchanged file", rel, err)
	}
	return nil
}

// keepUnreadable reports a file that cannot be read and keeps its previous
// version, if one is stored, in this backup.
func (w *walker) keepUnreadable(rel string, prev cacheEntry, hasPrev bool, why error) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	kept := hasPrev && prev.Token != nil
	w.v.Warn(rel, &UnreadableError{Path: rel, Kept: kept, Err: why})
	if !kept {
		return nil
	}
	prev.Reread = true
	w.cache.put(rel, prev)
	if err := w.v.Unchanged(prev.info(rel), prev.Token); err != nil {
		return visitErr("unchanged file", rel, err)
	}
	return nil
}

// readOnce opens the file, decides how to read it and hands it to File.
func (w *walker) readOnce(rel, abs string, base *cacheEntry) (res readResult, isDB bool, err error) {
	start := w.s.now()
	f, err := w.s.openFile(abs)
	if err != nil {
		// Its header unread, a denied file may be a database: reported as
		// one, its -wal and -shm are never copied as plain files.
		res, err := w.openFailed(rel, err)
		return res, res == readDenied, err
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return readDenied, true, fmt.Errorf("cannot stat: %w", err)
	}
	if !fi.Mode().IsRegular() {
		// Replaced by something else between the listing and the open.
		return readChanged, false, fmt.Errorf("%q is no longer a regular file: %w", rel, ErrChanged)
	}
	before := idOf(fi)
	var hdr [headerSize]byte
	n, err := io.ReadFull(f, hdr[:])
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return readDenied, true, fmt.Errorf("cannot read: %w", err)
	}
	header := hdr[:n]
	isDB = hasSQLiteHeader(header)

	if isDB {
		// Close our descriptor before SQLite locks the file: closing any
		// descriptor of a file drops every POSIX lock this process holds on it.
		f.Close()
		f = nil
		res, fallback, err := w.readSQLite(rel, abs, fi, before, start, base)
		if !fallback {
			return res, true, err
		}
		if f, err = w.s.openFile(abs); err != nil {
			res, err := w.openFailed(rel, err)
			return res, true, err
		}
		if fi, err = f.Stat(); err != nil {
			return readDenied, true, fmt.Errorf("cannot stat: %w", err)
		}
		before = idOf(fi)
	} else if _, err := f.Seek(0, io.SeekStart); err != nil {
		return readDenied, false, fmt.Errorf("cannot read: %w", err)
	}

	// The class, and with it the cut, is decided before the first chunk,
	// from the name and the header alone: the same file is always cut the
	// same way.
	rd := newFileReader(w.ctx, rel, abs, f, before, w.s.beforeVerify)
	var content Content
	var reader *fileReader // content's, for what the read found
	if isIncompressible(rel, header) {
		fc := &fixedContent{fileReader: rd, bufs: w.s.mediaBufs}
		defer fc.release()
		content, reader = fc, &fc.fileReader
	} else {
		chunks := w.s.otherChunkers.get()
		defer w.s.otherChunkers.put(chunks)
		fc, err := newFileContent(rd, chunks)
		if err != nil {
			return readSkipped, isDB, err
		}
		content, reader = fc, &fc.fileReader
	}
	f = nil // content owns it now
	defer reader.close()
	info := FileInfo{Path: rel, Kind: KindFile, Mode: fi.Mode(), ModTime: fi.ModTime(), Size: before.Size}
	token, err := w.v.File(info, content)
	if reader.changed || (err != nil && errors.Is(err, ErrChanged)) {
		if err == nil {
			err = fmt.Errorf("%q: %w", rel, ErrChanged)
		}
		return readChanged, isDB, err
	}
	if err != nil {
		if ctxErr := w.ctx.Err(); ctxErr != nil {
			return readSkipped, isDB, ctxErr
		}
		return readSkipped, isDB, visitErr("file", rel, err)
	}
	w.cache.put(rel, cacheEntry{
		Kind: KindFile, ID: before, Mode: fi.Mode(), Size: before.Size, DBHeader: isDB,
		Token:  keepToken(token),
		Reread: !reader.verified || w.racy(start, before),
	})
	return readDone, isDB, nil
}

// readSQLite reads a database through SQLite, incrementally when base (the
// previous version) allows it. fallback means it cannot be opened as a
// database and must be read as a plain file (a Warn was sent).
func (w *walker) readSQLite(rel, abs string, fi fs.FileInfo, before statID, start time.Time, base *cacheEntry) (res readResult, fallback bool, err error) {
	// Identities are taken before the snapshot: a commit in between makes
	// them differ next time, which only costs a re-read.
	wal, err := lstatID(abs + "-wal")
	if err != nil {
		w.v.Warn(rel, fmt.Errorf("cannot stat the database's -wal file, leaving it out of this backup: %w", err))
		return readSkipped, false, nil
	}
	if n := warmCarried(w.ctx, abs, base); n > 0 {
		w.s.log.Debug("read ahead the pages rule 3 checks", zap.String("path", rel), zap.Int("pages", n))
	}
	// Read before the transaction begins: frames it counts as committed
	// are certainly in the snapshot (see newMark). The descriptor is
	// closed only after the read's connection (see shmHeaderOf).
	shmFile, _ := os.Open(abs + "-shm")
	shm := shmHeaderOf(shmFile)
	content, err := openSQLite(w.ctx, rel, abs, w.s.busyBudget)
	if err != nil {
		if shmFile != nil {
			shmFile.Close()
		}
		if ctxErr := w.ctx.Err(); ctxErr != nil {
			return readSkipped, false, ctxErr
		}
		if errors.Is(err, errSQLiteLater) {
			return readLater, false, err
		}
		if !notADatabase(err) {
			return readLater, false, fmt.Errorf("cannot read the database: %w", err)
		}
		w.v.Warn(rel, fmt.Errorf("has a SQLite header but cannot be read as a database (damaged or encrypted?); backing it up as a plain file: %w", err))
		return readSkipped, true, nil
	}
	content.shm, content.log, content.sums.max = shmFile, w.s.log, w.s.sumsMax(content.pageSize)
	if w.seams != nil {
		content.seams = w.seams.seams
	}
	defer content.close()
	content.tr.at("plan")
	info := FileInfo{Path: rel, Kind: KindSQLite, Mode: fi.Mode(), ModTime: fi.ModTime(), Size: content.size(), PageSize: content.pageSize}
	db := func() io.ReaderAt { return content.checkFile(abs, before) }
	plan := planRead(base, abs, before, shmFile, shm, content.pageSize, content.pageCount, !w.racy(start, before), w.wholeReads(rel, start), db)
	if err := w.startPages(rel, abs, before, content, plan, base, &info); err != nil {
		return readLater, false, err
	}
	content.tr.at("visitor") // the visitor's work before it takes a page
	token, err := w.v.File(info, content)
	if err != nil {
		if ctxErr := w.ctx.Err(); ctxErr != nil {
			return readSkipped, false, ctxErr
		}
		if errors.Is(err, ErrChanged) {
			return readChanged, false, err
		}
		return readSkipped, false, visitErr("database", rel, err)
	}
	content.close()
	racy := w.racy(start, before) || w.racy(start, wal)
	// Opening the -wal changes its ctime when running as root (SQLite
	// fchowns it to the database's owner), so keep the later identity when
	// only ctime moved: a commit during the read changes mtime or size too.
	before, wal = settled(abs, before), settled(abs+"-wal", wal)
	e := cacheEntry{
		Kind: KindSQLite, ID: before, WalID: wal, Mode: fi.Mode(), Size: content.size(), PageSize: info.PageSize,
		DBHeader: true, Token: keepToken(token),
		Reread: !content.verified || racy,
	}
	if plan.incremental {
		e.WholeRead = base.WholeRead
	} else {
		// The wall clock alone, as after a restart: the monotonic one
		// stops while the machine sleeps, and those hours count too.
		e.WholeRead = start.Round(0)
	}
	if mark, ok := content.finalMark(plan.mark); ok && content.verified {
		mark.Sums, mark.SumsKept = content.markSums(mark, plan.sumsBase)
		e.Mark = &mark
	}
	w.cache.put(rel, e)
	return readDone, false, nil
}

// startPages starts the read plan chose: every page, or the changed ones
// on top of base's version.
func (w *walker) startPages(rel, abs string, before statID, c *sqliteContent, plan readPlan, base *cacheEntry, info *FileInfo) error {
	c.prev = plan.prev
	if !plan.incremental {
		if base != nil {
			w.s.log.Debug("reading the whole database", zap.String("path", rel), zap.String("why", plan.why))
		}
		if w.s.opts.CarryPages {
			// The visitor takes pages delivered again: short transactions.
			c.startPieces(abs, before, plan.mark, w.s.pieceBytes, w.s.pieceTime, w.s.log)
			return nil
		}
		return c.startAll()
	}
	w.s.log.Debug("reading the changed pages of a database", zap.String("path", rel),
		zap.Int("pages", len(plan.changed)), zap.Int64("of", c.pageCount), zap.Int("checked", plan.checked))
	info.Base = base.Token
	var atEnd func() error
	if plan.dbID != nil {
		want := *plan.dbID
		atEnd = func() error {
			if now, err := lstatID(abs); err != nil || now != want {
				return fmt.Errorf("%q: the database file changed during an incremental read: %w", rel, ErrChanged)
			}
			return nil
		}
	}
	if err := c.startChanged(plan.changed, atEnd); err != nil {
		return err
	}
	c.basePages = base.Mark.PageCount
	c.newPieces(abs, before, plan.mark, w.s.pieceBytes, w.s.pieceTime, w.s.log)
	if c.seams != nil {
		c.seams(c)
	}
	// Read the changed pages now (when they fit prefetchLimit), ending
	// the transaction before the backup's work ahead of its first page
	// (the previous version's references), which the app's checkpoint
	// would otherwise wait for. An error is Next's.
	_ = c.prefetch() // its error is in c.err
	return nil
}

// settled returns the identity of path now if it differs from before only in
// ctime, else before.
func settled(path string, before statID) statID {
	after, err := lstatID(path)
	if err != nil {
		return before
	}
	b := before
	b.CtimeNs = after.CtimeNs
	if b == after {
		return after
	}
	// A reader of a WAL database creates an empty -wal if none exists (SQLite
	// does this for read-only connections too); empty, it holds no commit.
	if before == (statID{}) && after.Size == 0 {
		return after
	}
	return before
}

// openFailed classifies a file that cannot be opened: vanished (warned
// here) or unreadable (its previous version is kept).
func (w *walker) openFailed(rel string, err error) (readResult, error) {
	if errors.Is(err, fs.ErrNotExist) {
		w.v.Warn(rel, fmt.Errorf("vanished during the scan: %w", err))
		return readSkipped, nil
	}
	return readDenied, fmt.Errorf("cannot open: %w", err)
}

// wholeReads is the schedule of whole reads of the database at rel, for a
// read at now.
func (w *walker) wholeReads(rel string, now time.Time) wholeReads {
	every := w.s.opts.FullReadEvery
	if every <= 0 {
		every = DefaultFullReadEvery
	}
	return wholeReads{now: now, every: every, rel: rel}
}

// racy reports whether id changed so close to start that a later change
// could leave the same stat behind.
func (w *walker) racy(start time.Time, id statID) bool {
	if id == (statID{}) {
		return false
	}
	return !id.changeTime().Before(start.Add(-racyWindow))
}

// keepToken is what the cache keeps of a visitor's token: the token itself
// (see Visitor.File), non-nil since a nil token means "none".
func keepToken(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
