package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
)

const (
	// changedRetries is how often a file that changed while it was read is
	// read again before it is left for the next cycle.
	changedRetries = 3
	// racyWindow: a file modified this close to the moment it was read may
	// change again within the same timestamp tick without its stat changing
	// (the racy-git problem), so its cache entry is not trusted next time.
	// Two seconds also covers filesystems with 2 s mtime granularity (FAT).
	racyWindow = 2 * time.Second
	// headerSize is how much of a file is sniffed for the SQLite header and
	// for magic bytes of compressed formats.
	headerSize = 3072
	// defaultBusyBudget bounds how long one scan waits for a database that a
	// writer keeps locked before leaving it for the next cycle.
	defaultBusyBudget = 30 * time.Second
)

// Scanner reads the chat directory. A Scanner runs one Scan at a time (a
// second concurrent Scan waits for the first).
type Scanner struct {
	root string
	opts Options
	log  *zap.Logger

	mu sync.Mutex // one Scan at a time
	// One chunker (and its buffer) per file read at once, for files cut
	// by content; for media (isIncompressible), a buffer for Next.
	otherChunkers *cdcPool
	mediaBufs     *bufPool

	// Injection points for tests; production uses the defaults.
	now          func() time.Time
	openFile     func(name string) (*os.File, error)
	readDir      func(name string) ([]os.DirEntry, error)
	beforeVerify func(rel string) // after a file's last byte, before the re-check
	busyBudget   time.Duration
	pieceBytes   int           // what one read transaction of a whole database read reads
	pieceTime    time.Duration // and for how long (0: no limit)
	maxSums      int           // pages a mark keeps hashes of, at most (sqlite_sums.go)
}

// NewScanner returns a Scanner of the directory root.
func NewScanner(root string, opts Options) *Scanner {
	log := opts.Log
	if log == nil {
		log = zap.NewNop()
	}
	return &Scanner{
		root:          root,
		opts:          opts,
		log:           log,
		now:           time.Now,
		openFile:      os.Open,
		readDir:       os.ReadDir,
		busyBudget:    defaultBusyBudget,
		pieceBytes:    defaultPieceBytes,
		pieceTime:     defaultPieceTime,
		maxSums:       defaultMaxSums,
		mediaBufs:     newBufPool(opts.Parallel),
		otherChunkers: newCDCPool(cdcOther, opts.Parallel),
	}
}

// Scan walks root once, calling v for every entry. It returns an error
// wrapping ErrSourceMissing if root does not exist or isn't a directory, the
// context's error if ctx ends, and a visitor's error (wrapped) if one fails.
// Problems with single paths go to v.Warn and the scan goes on.
func (s *Scanner) Scan(ctx context.Context, v Visitor) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, err := os.Stat(s.root)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !fi.IsDir()) {
		return fmt.Errorf("chat directory %s does not exist or is not a directory; check the configured source: %w", s.root, ErrSourceMissing)
	}
	if err != nil {
		return fmt.Errorf("check chat directory %s: %w", s.root, err)
	}
	sc, warn := s.opts.Cache.begin(s.opts.Scope != nil)
	if warn != nil {
		s.log.Warn("ignoring file cache", zap.Error(warn))
	}
	wc := &warnCounter{Visitor: v}
	w := &walker{s: s, v: wc, ctx: ctx, cache: sc, warns: wc}
	w.tv, _ = v.(TreeVisitor)
	w.seams, _ = v.(readSeams)
	if s.opts.Scope != nil && sc != nil {
		if w.scope = newScope(s.opts.Scope, sc); w.scope != nil {
			sc.listed = map[string]bool{}
		}
	}
	if s.opts.Parallel > 1 {
		w.sem = make(chan struct{}, s.opts.Parallel)
	}
	err = w.dir("", s.root, fi)
	sc.commit(err == nil)
	return err
}

// walker is the state of one Scan.
type walker struct {
	seams readSeams // tests' seams of database reads (nil: none)
	s     *Scanner
	v     Visitor
	ctx   context.Context
	cache *scanCache
	// sem bounds the files read at once (nil: one at a time, in order).
	sem chan struct{}
	// scope limits what is looked at (nil: everything); tv is the visitor
	// when it can take whole directories.
	scope *scope
	tv    TreeVisitor
	warns *warnCounter

	errMu    sync.Mutex
	firstErr error
}

func (w *walker) fail(err error) {
	w.errMu.Lock()
	if w.firstErr == nil {
		w.firstErr = err
	}
	w.errMu.Unlock()
}

func (w *walker) err() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.firstErr
}

func visitErr(what, rel string, err error) error {
	return fmt.Errorf("backup of %q stopped (%s): %w", rel, what, err)
}

// dir visits the children of the directory rel, then the directory itself.
func (w *walker) dir(rel, abs string, fi fs.FileInfo) error {
	entries, err := w.s.readDir(abs)
	if err != nil {
		if rel == "" {
			return fmt.Errorf("read chat directory %s: %w", abs, err)
		}
		// A partial listing would drop entries silently: the visitor keeps
		// the directory's previous tree and records it as incomplete.
		w.v.Warn(rel, &UnreadableError{Path: rel, IsDir: true, Err: err})
		return nil
	}
	w.cache.setListed(rel)
	warnsBefore := w.warns.n.Load()
	regular := make(map[string]bool, len(entries))
	for _, e := range entries {
		if e.Type().IsRegular() {
			regular[e.Name()] = true
		}
	}
	// dbs records, per name in this directory, whether it starts with the
	// SQLite header (or could not be checked), to skip its companions.
	dbs := &dbHeaders{m: map[string]bool{}}
	// Files read concurrently must all be done before the directory itself
	// is visited, and before returning at all.
	var files sync.WaitGroup
	defer files.Wait()
	for _, e := range entries { // os.ReadDir sorts by name
		if err := w.ctx.Err(); err != nil {
			return err
		}
		if err := w.err(); err != nil {
			return err
		}
		name := e.Name()
		crel := path.Join(rel, name)
		cabs := filepath.Join(abs, name)
		if base, ok := companionBase(name); ok && regular[base] && w.isDatabase(dbs, path.Join(rel, base), filepath.Join(abs, base), base) {
			w.s.log.Debug("skipping SQLite companion file", zap.String("path", crel))
			continue
		}
		if w.s.opts.Exclude != nil && w.s.opts.Exclude(crel, e.IsDir()) {
			continue
		}
		if carried, err := w.carry(crel, e, dbs); carried {
			if err != nil {
				return err
			}
			continue
		}
		cfi, ok := w.lstat(crel, cabs)
		if !ok {
			continue
		}
		switch m := cfi.Mode(); {
		case m.IsDir():
			if err := w.dir(crel, cabs, cfi); err != nil {
				return err
			}
		case m&fs.ModeSymlink != 0:
			if err := w.symlink(crel, cabs, cfi); err != nil {
				return err
			}
		case m.IsRegular():
			if w.sem == nil {
				isDB, err := w.file(crel, cabs, cfi)
				dbs.set(name, isDB)
				if err != nil {
					return err
				}
				continue
			}
			w.sem <- struct{}{}
			files.Add(1)
			go func() {
				defer files.Done()
				defer func() { <-w.sem }()
				isDB, err := w.file(crel, cabs, cfi)
				dbs.set(name, isDB)
				if err != nil {
					w.fail(err)
				}
			}()
		default:
			// Sockets, FIFOs and devices have no content to back up.
			w.s.log.Debug("skipping special file", zap.String("path", crel), zap.Stringer("mode", m))
		}
	}
	files.Wait()
	if err := w.err(); err != nil {
		return err
	}
	info := FileInfo{Path: rel, Kind: KindDir, Mode: fi.Mode(), ModTime: fi.ModTime()}
	if err := w.dirDone(info, fi, warnsBefore); err != nil {
		return visitErr("directory", rel, err)
	}
	return nil
}

// lstat stats a listed entry; a failure is warned about.
func (w *walker) lstat(crel, cabs string) (fs.FileInfo, bool) {
	fi, err := os.Lstat(cabs)
	if err == nil {
		return fi, true
	}
	if errors.Is(err, fs.ErrNotExist) {
		w.v.Warn(crel, fmt.Errorf("vanished during the scan: %w", err))
	} else {
		w.v.Warn(crel, &UnreadableError{Path: crel, Err: fmt.Errorf("cannot stat: %w", err)})
	}
	return nil, false
}

// symlink visits one symbolic link (never followed).
func (w *walker) symlink(crel, cabs string, fi fs.FileInfo) error {
	target, err := os.Readlink(cabs)
	if err != nil {
		w.v.Warn(crel, fmt.Errorf("cannot read symlink, leaving it out of this backup: %w", err))
		return nil
	}
	info := FileInfo{Path: crel, Kind: KindSymlink, Mode: fi.Mode(), ModTime: fi.ModTime(), LinkTarget: target}
	if err := w.v.Symlink(info); err != nil {
		return visitErr("symlink", crel, err)
	}
	return nil
}

// isDatabase reports whether the file name in this directory is (or may be)
// a SQLite database, reading its header if it was not visited.
func (w *walker) isDatabase(dbs *dbHeaders, rel, abs, name string) bool {
	if v, ok := dbs.get(name); ok {
		return v
	}
	isDB := true // unreadable: assume the worst, a -wal must never be copied
	if e, ok := w.cache.lookup(rel); ok {
		isDB = e.DBHeader
	} else if f, err := w.s.openFile(abs); err == nil {
		var hdr [16]byte // len(sqliteMagic)
		n, _ := io.ReadFull(f, hdr[:])
		f.Close()
		isDB = hasSQLiteHeader(hdr[:n])
	}
	dbs.set(name, isDB)
	return isDB
}

// dbHeaders is a directory's record of which names carry the SQLite
// header; files read concurrently fill it in.
type dbHeaders struct {
	mu sync.Mutex
	m  map[string]bool
}

func (d *dbHeaders) get(name string) (bool, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.m[name]
	return v, ok
}

func (d *dbHeaders) set(name string, v bool) {
	d.mu.Lock()
	d.m[name] = v
	d.mu.Unlock()
}
