package source

import (
	"errors"
	"fmt"
	"io/fs"
	"time"

	"go.uber.org/zap"
)

// Kind tells how an entry's content is represented.
type Kind uint8

const (
	KindFile    Kind = 1 // regular file: content-defined chunks, media at fixed offsets
	KindSQLite  Kind = 2 // SQLite database, one chunk per page
	KindDir     Kind = 3
	KindSymlink Kind = 4
)

func (k Kind) String() string {
	switch k {
	case KindFile:
		return "file"
	case KindSQLite:
		return "sqlite"
	case KindDir:
		return "dir"
	case KindSymlink:
		return "symlink"
	}
	return "unknown"
}

// FileInfo describes one entry. Path is slash-separated, relative to the root
// ("" is the root itself; "media/a.jpg").
type FileInfo struct {
	Path    string
	Kind    Kind
	Mode    fs.FileMode // permission bits + type bits as os.FileInfo gives them
	ModTime time.Time
	// Size is the content length. For KindSQLite it is page size * page count
	// of the snapshot read (the size of the restored file).
	Size       int64
	LinkTarget string // KindSymlink only
	PageSize   int    // KindSQLite only
	// Base is set when a SQLite database is read incrementally (only with
	// Options.CarryPages): the token of the previous version, whose pages
	// the chunks marked Carried stand for.
	Base []byte
}

// Chunk is a piece of a file's content. Data is only valid until the next call
// to Next.
type Chunk struct {
	Data []byte
	// Carried, when above 0: the next Carried pages are unchanged since
	// the version FileInfo.Base describes; Data is nil and the consumer
	// takes that version's chunks at the same indexes. A run of unchanged
	// pages comes as one chunk (a one-message change leaves a few runs of
	// a database's quarter of a million pages per GB). Only a database
	// read with Options.CarryPages has them.
	Carried int
	// Page, when above 0, names a page (counted from 1) that was delivered
	// earlier and is delivered again: this chunk replaces it. A database
	// read in pieces (only with Options.CarryPages; docs/sqlite.md) reads
	// again the pages that changed after they were read. 0: the next page.
	Page int64
	// Truncate, with Page: the content ends before page Page, and the
	// pages from Page on that were delivered are dropped (the database
	// shrank while it was read). Data is nil. It is the last chunk.
	Truncate bool
	// Prev, for a page an incremental read delivers, is a copy of what
	// may be the page's version in the snapshot FileInfo.Base describes,
	// read from the database's files on this machine (docs/sqlite.md,
	// "The previous version of a changed page"); nil when there is none.
	// It is a guess: the consumer must check it against that version (by
	// its hash) before relying on it. Valid until the next call to Next.
	Prev []byte
}

// Content streams one file's content in order; concatenating all Data gives the
// file (for SQLite: page 1..N of the consistent snapshot). Next returns io.EOF
// at the end, but only after checking that the file did not change while it
// was read (for KindFile: re-stat size/mtime/ctime/inode after reading; for
// SQLite the read transaction guarantees it). If it changed, Next returns an
// error wrapping ErrChanged instead of io.EOF.
type Content interface {
	Next() (Chunk, error)
	// Incompressible reports a hint that the content is already compressed
	// (jpeg, png, mp4, zip, ...) by extension or magic bytes, so the consumer
	// can skip compression.
	Incompressible() bool
}

// ErrChanged means a file changed while it was read; its content was not
// delivered and it will be read again.
var ErrChanged = errors.New("file changed while it was read")

// UnreadableError is what Visitor.Warn receives for a path that exists but
// cannot be read (permissions, an I/O error): the snapshot is incomplete.
// For a file with a stored version, the scanner has kept that version
// (Unchanged with its token); for a directory, keeping its previous tree
// is the visitor's part, since the scanner cannot list it.
type UnreadableError struct {
	Path  string
	IsDir bool
	// Kept: the previous version was kept (files only).
	Kept bool
	Err  error
}

func (e *UnreadableError) Error() string {
	what := "file"
	if e.IsDir {
		what = "directory"
	}
	if e.Kept {
		return fmt.Sprintf("cannot read the %s, keeping its previous version (check its permissions): %v", what, e.Err)
	}
	return fmt.Sprintf("cannot read the %s (check its permissions): %v", what, e.Err)
}

func (e *UnreadableError) Unwrap() error { return e.Err }

// ErrSourceMissing means the chat directory does not exist or is not a
// directory.
var ErrSourceMissing = errors.New("source directory missing")

// Visitor receives the scan. Dir(dir) is called after all of dir's children
// (post-order), so a consumer can build a tree bottom-up. With
// Options.Parallel at most 1 the calls are sequential, in a deterministic
// order (a directory's entries sorted by name, depth first); above 1, File,
// Unchanged and Warn of different files may run concurrently and in any
// order, so the Visitor must be safe for that (Options.Parallel says more).
//
// If a Visitor method returns an error (other than a File error wrapping
// ErrChanged), Scan stops and returns it wrapped.
type Visitor interface {
	// File is called for a file whose content must be read. The visitor reads
	// content to the end and returns an opaque token describing what it stored
	// (the scanner keeps it in the file cache as it is: a token, ~10 MB for a
	// 1 GB database, is not copied, so neither side may modify it). If reading fails with
	// ErrChanged the scanner retries up to 3 times, then reports Warn and uses
	// the previous token if the cache has one (the file is "left for the next
	// cycle"), else skips the file. Never a torn file.
	File(info FileInfo, content Content) (token []byte, err error)
	// Unchanged is called instead of File when the file cache says the file is
	// unchanged (same size, mtime, ctime, inode, device; for a SQLite database
	// also the same -wal file size/mtime/ctime/inode). No byte of it is read.
	// It is also called with the previous token when a file is left for the
	// next cycle; info then describes the version that token stands for.
	Unchanged(info FileInfo, token []byte) error
	// Dir is called for each directory (including the root, Path "") after its
	// children.
	Dir(info FileInfo) error
	// Symlink is called for each symbolic link (never followed).
	Symlink(info FileInfo) error
	// Warn reports a problem with one path (unreadable file, vanished file,
	// unreadable dir); the scan goes on.
	Warn(path string, err error)
}

// Options configure a Scanner.
type Options struct {
	// Exclude reports whether a path (slash-separated, relative to the root)
	// is left out; an excluded directory is not descended into. nil: nothing
	// excluded. The scanner itself always skips SQLite's -wal, -shm and
	// -journal companions of a recognised database.
	Exclude func(relPath string, isDir bool) bool
	// Cache makes unchanged files cost one lstat. nil: every file is read.
	Cache *FileCache
	// Log receives debug detail; problems go to Visitor.Warn. nil: zap.NewNop().
	Log *zap.Logger
	// Parallel is how many files may be read at once. Above 1, the
	// Visitor's File, Unchanged and Warn are called concurrently (for
	// different files) and a directory's children reach it in no fixed
	// order; Dir(d) still comes after every child of d. 0 or 1: one file at
	// a time, in name order.
	Parallel int
	// CarryPages lets a SQLite database whose previous version the cache
	// knows be read incrementally: only the pages that may have changed are
	// read, the others reach File as Chunk.Carried (see docs/sqlite.md). The
	// Visitor must resolve them through FileInfo.Base. It also lets a whole
	// read run in short read transactions, which delivers again the pages
	// that changed meanwhile (Chunk.Page, Chunk.Truncate).
	CarryPages bool
	// FullReadEvery bounds the time between two whole reads of a
	// database: one whose last whole read is older is read whole, even
	// when its stat is unchanged (a scoped scan does not look at it, the
	// next complete one does), so a page an incremental read ever carried
	// wrongly does not stay wrong for longer. 0: DefaultFullReadEvery.
	FullReadEvery time.Duration
	// Scope, when not nil, limits the scan to these paths (relative, slash
	// separated; a directory stands for everything under it), as a watcher
	// reports them: what lies outside is taken from the cache without being
	// looked at (directories as a whole when the Visitor is a TreeVisitor),
	// and looked at normally when the cache does not hold it. Files the
	// cache does not trust are always looked at. nil: the whole tree.
	Scope []string
}

var (
	_ Content = (*fileContent)(nil)
	_ Content = (*sqliteContent)(nil)
)
