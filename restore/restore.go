// Package restore owns writing a snapshot back to disk: every byte is
// authenticated and checked against its id by the store before it is
// written, files appear atomically (unnamed, or under a temporary name,
// until whole) with their mode and mtime, into a new or empty directory.
// Every write goes through an os.Root on the target (restoreroot.go), so
// nothing it writes resolves outside it, and with Force a symlink in the
// way is replaced, never followed. It reads the store through Reader,
// the few calls a restore needs.
package restore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/chatsafe/chatsafe/browse"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/store"
)

// ErrTargetNotEmpty means restore was pointed at a non-empty directory
// without Force.
var ErrTargetNotEmpty = errors.New("restore target is not empty")

// ErrNothingMatched means Include and Exclude left nothing of the snapshot
// to restore.
var ErrNothingMatched = errors.New("nothing in the snapshot matches")

// Reader is what a restore reads from the store: what browsing reads,
// and a file's chunks a ranged read at a time (Store.FetchChunks), so
// that pages stored in file order are written with one write per range.
type Reader interface {
	browse.Reader
	FetchChunks(ctx context.Context, refs []store.ChunkRef, fn func(b *store.Batch) error) error
}

// Options configure a restore.
type Options struct {
	Snapshot string    // id or prefix; "" or "latest" for the newest
	Time     time.Time // when set: the newest snapshot at or before it
	// Include and Exclude are globs (browse.Match) on paths relative to
	// the snapshot; a matched directory takes everything below it. With
	// Include, only what it matches is restored (and the directories on
	// the way); Exclude wins over Include.
	Include, Exclude []string
	Target           string
	Force            bool // allow a non-empty target (files are replaced)
	// Delete, with Force, removes what the target holds under the
	// restored paths but the snapshot does not (extras.go): files,
	// symlinks and the directories left empty. What Include and Exclude
	// leave out is never touched, nor anything a symlink points at, nor
	// what the backup leaves out (BackupExclude) or could not read (the
	// snapshot's Incomplete paths).
	Delete bool
	// BackupExclude reports whether the backup leaves a path out
	// (slash-separated, relative to the target; the config's exclude:,
	// configs.Config.Excluded). nil: nothing is left out.
	BackupExclude func(relPath string, isDir bool) bool
	Progress      func(done, total int64) // bytes written so far (total -1: unknown, with filters); may be nil
}

// Result reports a restore.
type Result struct {
	Snapshot store.Snapshot
	Files    int
	Bytes    int64
	// Companions are the SQLite companions (-wal, -shm, -journal) of an
	// earlier database that a restore with Force removed beside the
	// databases it wrote (companions.go), target-relative.
	Companions []string
	// ExtraFiles and ExtraDirs count what a restore with Force found in
	// the target under the restored paths that is not in the snapshot
	// (files and symlinks; directories: those it would remove), Extra
	// names the first maxExtraListed files. With Delete, that is what it
	// deleted.
	ExtraFiles, ExtraDirs int
	Extra                 []string
	Deleted               bool
	// KeptFiles and KeptDirs count what a restore with Force found in
	// the target under the restored paths that is not in the snapshot
	// because the backup leaves it out (Options.BackupExclude) or could
	// not read it (Snapshot.Incomplete): never deleted, not among the
	// extras. Kept names the first maxExtraListed.
	KeptFiles, KeptDirs int
	Kept                []string
}

// ErrDeleteWithoutForce means Delete was asked for without Force.
var ErrDeleteWithoutForce = errors.New("--delete removes files from the restore target: it needs --force")

// ErrDeleteUnsafe means Delete was asked for with a snapshot that may not
// name every path its backup could not read (store.MaxOmissions).
var ErrDeleteUnsafe = errors.New("--delete could remove files the backup could not read")

// CheckTarget reports whether target is usable for a restore: new, or an
// empty directory, or anything with force.
func CheckTarget(target string, force bool) error {
	_, err := checkTarget(target, force)
	return err
}

// deleteUnsafe refuses Delete for a snapshot whose Incomplete list may not
// name every path its backup could not read: one at the most a snapshot
// records (store.MaxOmissions), or one naming a path cut short
// (store.MaxOmissionText), which matches nothing in target.
func deleteUnsafe(snap *store.Snapshot, target string) error {
	const fix = "restore without --delete, or fix what the backup cannot read (`chatsafe snapshots --json` lists the paths) and back up again"
	if len(snap.Incomplete) >= store.MaxOmissions {
		return fmt.Errorf("%w: snapshot %x lists %d paths its backup could not read, the most a snapshot records, so it may have left out others that only %s holds; %s", ErrDeleteUnsafe, snap.ID[:4], len(snap.Incomplete), target, fix)
	}
	for _, o := range snap.Incomplete {
		if len(o.Path) >= store.MaxOmissionText {
			return fmt.Errorf("%w: snapshot %x lists a path its backup could not read cut at %d bytes (%.60q...), which names nothing that %s holds; %s", ErrDeleteUnsafe, snap.ID[:4], store.MaxOmissionText, o.Path, target, fix)
		}
	}
	return nil
}

// checkTarget is CheckTarget, also returning how many entries the target
// holds (-1: it does not exist).
func checkTarget(target string, force bool) (int, error) {
	ents, err := os.ReadDir(target)
	if errors.Is(err, os.ErrNotExist) {
		return -1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("restore target %s: %w", target, err)
	}
	if len(ents) > 0 && !force {
		return 0, fmt.Errorf("%w: %s has %d entries (restore into a new or empty directory, or pass --force to overwrite)", ErrTargetNotEmpty, target, len(ents))
	}
	return len(ents), nil
}

// Run writes a snapshot of st into opts.Target. Every byte is
// authenticated and checked against its id before it is written; each
// file appears atomically under its name with its mode and mtime.
func Run(ctx context.Context, r Reader, opts Options) (*Result, error) {
	snap, err := browse.Select(r, opts.Snapshot, opts.Time)
	if err != nil {
		return nil, err
	}
	if err := browse.ValidPatterns(append(append([]string(nil), opts.Include...), opts.Exclude...)); err != nil {
		return nil, err
	}
	if opts.Delete && !opts.Force {
		return nil, ErrDeleteWithoutForce
	}
	if opts.Delete {
		if err := deleteUnsafe(&snap, opts.Target); err != nil {
			return nil, err
		}
	}
	had, err := checkTarget(opts.Target, opts.Force)
	if err != nil {
		return nil, err
	}
	made := had < 0 // the restore makes the target
	root, err := openRestoreRoot(opts.Target)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	// Every file's fetch reads the same few deltas: opened once for all.
	ctx, releaseDeltas := store.KeepDeltasOpen(ctx)
	defer releaseDeltas()
	g, gctx := errgroup.WithContext(ctx)
	// Files are restored concurrently (each also fetches in parallel);
	// the walk itself, directory creation and the final directory modes
	// stay on this goroutine.
	g.SetLimit(restoreFileWorkers)
	total := int64(snap.Bytes)
	if len(opts.Include) > 0 || len(opts.Exclude) > 0 {
		total = -1 // unknown until the walk ends: a progress bar shows a spinner
	}
	rs := &restoreRun{r: r, ctx: gctx, g: g, root: root, target: opts.Target, total: total, progress: opts.Progress, res: &Result{Snapshot: snap}, include: opts.Include, exclude: opts.Exclude, backupExclude: opts.BackupExclude}
	if had > 0 {
		// Files may be in the way: stale companions of a database, and
		// what the snapshot does not hold.
		rs.overwrite = true
		rs.snapDirs = map[string]map[string]bool{}
	}
	if snap.RootMode != 0 {
		// The target itself, applied last; format 1 snapshots did not
		// record it, and their target keeps the mode it was created with.
		rs.dirs = append(rs.dirs, restoredDir{path: ".", mode: snap.RootMode, mtime: snap.RootModTime})
	}
	walkErr := rs.dir(snap.Tree, ".", len(opts.Include) == 0)
	err = g.Wait()
	if err == nil {
		err = walkErr
	}
	if err != nil {
		return rs.res, rs.incomplete(err, opts, walkErr == nil, had <= 0)
	}
	if !rs.restoredAny {
		if err := rs.nothingMatched(opts, made, root); err != nil {
			return rs.res, err
		}
	}
	// No fsync: like cp, restic or borg, a restore leaves flushing to the
	// kernel (a sync of the file system cost more than the restore itself
	// when other writers had dirty pages). Files still appear atomically,
	// and a restore interrupted by a crash is simply run again.
	return rs.res, rs.finish(opts.Delete)
}

// finish ends a restore whose every file is written: what the target
// holds beside the snapshot (extras.go), then the directories' modes and
// times, deepest first.
func (rs *restoreRun) finish(del bool) error {
	var extraErr error
	if rs.overwrite {
		// Before the directories' modes: a restored read-only directory
		// would refuse the deletions.
		extraErr = rs.extras(del)
	}
	for i := len(rs.dirs) - 1; i >= 0; i-- {
		d := rs.dirs[i]
		if err := rs.root.Chmod(d.path, d.mode.Perm()); err != nil {
			return fmt.Errorf("restoring %s: %w", rs.path(d.path), err)
		}
		mt := time.Unix(0, d.mtime)
		_ = rs.root.Chtimes(d.path, mt, mt)
	}
	return extraErr
}

// restoreFileWorkers files are restored at once. The blobs in flight do
// not grow with it (the store bounds the bytes all fetches hold,
// store.fetchBudget), only the files' chunk references; what it buys is
// overlap of the per-file system calls (creating a file cost about 1 ms
// of kernel time on the bench's machine) with the opening of the others'
// blobs.
const restoreFileWorkers = 8

type restoredDir struct {
	path  string // relative to the target
	mode  os.FileMode
	mtime int64
}

type restoreRun struct {
	mu       sync.Mutex // guards done, res and progress calls from the workers
	g        *errgroup.Group
	dirs     []restoredDir // in pre-order; modes are applied in reverse
	root     *os.Root      // the target: every write goes through it
	target   string        // the target's path, for messages
	r        Reader
	ctx      context.Context
	done     int64
	total    int64
	progress func(done, total int64)
	res      *Result
	include  []string
	exclude  []string
	// backupExclude is Options.BackupExclude (extras.go).
	backupExclude func(relPath string, isDir bool) bool
	pending       []restoredDir // directories not made yet: made when something below them is restored
	// restoredAny: some entry was wanted (a snapshot of nothing, or
	// filters that match nothing, restore nothing).
	restoredAny bool
	wanted      int    // files the walk handed to the workers
	stopAt      string // where a failed restore stopped (stoppedAt), guarded by mu
	// overwrite: the target held entries before the restore (Force).
	// snapDirs then records, per snapshot directory the walk visits
	// (slash-separated, target-relative), its entries' names and whether
	// each is a directory, for the extras.
	overwrite bool
	snapDirs  map[string]map[string]bool
}

// nothingMatched is the error of a restore whose filters left nothing to
// restore; a target the restore made (still empty) goes again.
func (rs *restoreRun) nothingMatched(opts Options, made bool, root *os.Root) error {
	if len(opts.Include) == 0 && len(opts.Exclude) == 0 {
		return nil // an empty snapshot restores as an empty directory
	}
	if made {
		root.Close() // first: Windows removes no directory held open
		_ = os.Remove(opts.Target)
	}
	var filters []string
	for _, p := range opts.Include {
		filters = append(filters, "--include "+strconv.Quote(p))
	}
	for _, p := range opts.Exclude {
		filters = append(filters, "--exclude "+strconv.Quote(p))
	}
	return fmt.Errorf("%w %s: nothing restored (`chatsafe ls` lists the snapshot's paths)",
		ErrNothingMatched, strings.Join(filters, " "))
}

// path names a target-relative path for messages.
func (rs *restoreRun) path(rel string) string { return filepath.Join(rs.target, rel) }

// dir restores the tree into dst; included says whether everything in it
// is wanted (no Include, or a directory Include matched).
func (rs *restoreRun) dir(tree crypt.ID, dst string, included bool) (err error) {
	at := dst // what is being restored, for a failure's message
	defer func() {
		if err != nil {
			rs.stoppedAt(at)
		}
	}()
	nodes, err := rs.r.Tree(rs.ctx, tree)
	if err != nil {
		return fmt.Errorf("restoring %s: %w", rs.path(dst), err)
	}
	rs.recordDir(dst, nodes)
	var dh *dirHandle // opened at the directory's first file
	defer func() { dh.release() }()
	for i := range nodes {
		n := &nodes[i]
		p := filepath.Join(dst, n.Name)
		at = p
		if err := rs.ctx.Err(); err != nil {
			return err
		}
		rel := filepath.ToSlash(p)
		if browse.MatchAny(rs.exclude, rel) {
			continue
		}
		in := included || browse.MatchAny(rs.include, rel)
		if in {
			rs.restoredAny = true
		}
		if n.Kind == store.KindDir {
			if err := rs.subdir(n, p, in); err != nil {
				return err
			}
			continue
		}
		if !in {
			continue
		}
		if err := rs.makePending(); err != nil {
			return err
		}
		switch n.Kind {
		case store.KindSymlink:
			if err := replaceWithSymlink(rs.root, p, n.Target); err != nil {
				return fmt.Errorf("restoring %s: %w", rs.path(p), err)
			}
			_ = lchtimesIn(rs.root, p, n.ModTime)
		case store.KindFile, store.KindSQLite:
			if dh == nil {
				if dh, err = openDirHandle(rs.root, dst); err != nil {
					return fmt.Errorf("restoring %s: %w", rs.path(dst), err)
				}
			}
			dh.acquire()
			dir := dh
			rs.wanted++
			rs.g.Go(func() error {
				defer dir.release()
				if err := rs.file(n, dir, p, nodes); err != nil {
					rs.stoppedAt(p)
					return err
				}
				return nil
			})
		}
	}
	return nil
}

// subdir restores directory n at p: made at once when it is wanted, else
// only once something below it is.
func (rs *restoreRun) subdir(n *store.Node, p string, in bool) error {
	d := restoredDir{path: p, mode: n.Mode, mtime: n.ModTime}
	if !in {
		rs.pending = append(rs.pending, d)
		err := rs.dir(n.Subtree, p, false)
		if len(rs.pending) > 0 && rs.pending[len(rs.pending)-1].path == p {
			rs.pending = rs.pending[:len(rs.pending)-1]
		}
		return err
	}
	if err := rs.makePending(); err != nil {
		return err
	}
	if err := prepareDir(rs.root, p); err != nil {
		return fmt.Errorf("restoring %s: %w", rs.path(p), err)
	}
	rs.dirs = append(rs.dirs, d)
	return rs.dir(n.Subtree, p, true)
}

// makePending makes the directories on the way to an entry being restored.
func (rs *restoreRun) makePending() error {
	for _, d := range rs.pending {
		if err := prepareDir(rs.root, d.path); err != nil {
			return fmt.Errorf("restoring %s: %w", rs.path(d.path), err)
		}
		rs.dirs = append(rs.dirs, d)
	}
	rs.pending = rs.pending[:0]
	return nil
}
