package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/source"
)

// ErrTargetNotEmpty means restore was pointed at a non-empty directory
// without Force.
var ErrTargetNotEmpty = errors.New("restore target is not empty")

// RestoreOptions configure a restore.
type RestoreOptions struct {
	Snapshot string // id or prefix; "" or "latest" for the newest
	Target   string
	Force    bool                    // allow a non-empty target (files are replaced)
	Progress func(done, total int64) // bytes written so far; may be nil
}

// RestoreResult reports a restore.
type RestoreResult struct {
	Snapshot Snapshot
	Files    int
	Bytes    int64
}

// CheckTarget reports whether target is usable for a restore: new, or an
// empty directory, or anything with force.
func CheckTarget(target string, force bool) error {
	ents, err := os.ReadDir(target)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore target %s: %w", target, err)
	}
	if len(ents) > 0 && !force {
		return fmt.Errorf("%w: %s has %d entries (restore into a new or empty directory, or pass --force to overwrite)", ErrTargetNotEmpty, target, len(ents))
	}
	return nil
}

// Restore writes a snapshot into opts.Target. Every byte is authenticated
// and checked against its id before it is written; each file appears
// atomically under its name with its mode and mtime.
func (r *Repository) Restore(ctx context.Context, opts RestoreOptions) (*RestoreResult, error) {
	snap, err := r.FindSnapshot(opts.Snapshot)
	if err != nil {
		return nil, err
	}
	if err := CheckTarget(opts.Target, opts.Force); err != nil {
		return nil, err
	}
	root, err := openRestoreRoot(opts.Target)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	g, gctx := errgroup.WithContext(ctx)
	// Files are restored concurrently (each also fetches in parallel);
	// the walk itself, directory creation and the final directory modes
	// stay on this goroutine.
	g.SetLimit(restoreFileWorkers)
	rs := &restoreRun{r: r, ctx: gctx, g: g, root: root, target: opts.Target, total: int64(snap.Bytes), progress: opts.Progress, res: &RestoreResult{Snapshot: snap}}
	if snap.RootMode != 0 {
		// The target itself, applied last; format 1 snapshots did not
		// record it, and their target keeps the mode it was created with.
		rs.dirs = append(rs.dirs, restoredDir{path: ".", mode: snap.RootMode, mtime: snap.RootModTime})
	}
	walkErr := rs.dir(snap.Tree, ".")
	if err := g.Wait(); err != nil {
		return rs.res, err
	}
	if walkErr != nil {
		return rs.res, walkErr
	}
	for i := len(rs.dirs) - 1; i >= 0; i-- {
		d := rs.dirs[i]
		if err := root.Chmod(d.path, d.mode.Perm()); err != nil {
			return rs.res, fmt.Errorf("restoring %s: %w", rs.path(d.path), err)
		}
		mt := time.Unix(0, d.mtime)
		_ = root.Chtimes(d.path, mt, mt)
	}
	// No fsync: like cp, restic or borg, a restore leaves flushing to the
	// kernel (a sync of the file system cost more than the restore itself
	// when other writers had dirty pages). Files still appear atomically,
	// and a restore interrupted by a crash is simply run again.
	return rs.res, nil
}

const restoreFileWorkers = 3

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
	r        *Repository
	ctx      context.Context
	done     int64
	total    int64
	progress func(done, total int64)
	res      *RestoreResult
}

func (r *Repository) loadTree(ctx context.Context, id crypt.ID) ([]node, error) {
	plain, typ, err := r.readBlob(ctx, id)
	if err != nil {
		return nil, err
	}
	loc := r.locate(id)
	if typ != blobTree {
		return nil, integrityErr(loc, fmt.Sprintf("blob %s is not a directory", id), nil)
	}
	nodes, err := decodeTree(plain)
	if err != nil {
		return nil, integrityErr(loc, fmt.Sprintf("directory blob %s is malformed", id), err)
	}
	return nodes, nil
}

// locate names the object holding a blob, for error messages.
func (r *Repository) locate(id crypt.ID) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if loc, ok := r.index[id]; ok {
		return loc.d.ref.name()
	}
	return "index"
}

// resolveLists returns a file's list ids, reading its list index if it
// has one.
func (r *Repository) resolveLists(ctx context.Context, c content) ([]crypt.ID, error) {
	if c.Index == (crypt.ID{}) {
		return c.Lists, nil
	}
	plain, typ, err := r.readBlob(ctx, c.Index)
	if err != nil {
		return nil, err
	}
	if typ != blobListIndex {
		return nil, integrityErr(r.locate(c.Index), fmt.Sprintf("blob %s is not a list index", c.Index), nil)
	}
	d := &decoder{b: plain}
	lists := decodeIDs(d)
	if err := d.done(); err != nil || len(lists) == 0 {
		return nil, integrityErr(r.locate(c.Index), fmt.Sprintf("list index %s is malformed", c.Index), err)
	}
	return lists, nil
}

// chunkRefs resolves a file's content into its chunk references.
func (r *Repository) chunkRefs(ctx context.Context, c content) ([]chunkRef, error) {
	if !c.isList() {
		return c.Chunks, nil
	}
	lists, err := r.resolveLists(ctx, c)
	if err != nil {
		return nil, err
	}
	var refs []chunkRef
	for _, id := range lists {
		plain, typ, err := r.readBlob(ctx, id)
		if err != nil {
			return nil, err
		}
		if typ != blobList {
			return nil, integrityErr(r.locate(id), fmt.Sprintf("blob %s is not a chunk list", id), nil)
		}
		l, err := decodeList(plain)
		if err != nil {
			return nil, integrityErr(r.locate(id), fmt.Sprintf("chunk list %s is malformed", id), err)
		}
		refs = append(refs, l...)
	}
	for _, id := range c.Patches {
		plain, typ, err := r.readBlob(ctx, id)
		if err != nil {
			return nil, err
		}
		if typ != blobPatch {
			return nil, integrityErr(r.locate(id), fmt.Sprintf("blob %s is not a patch", id), nil)
		}
		total, entries, err := decodePatch(plain)
		if err == nil {
			refs, err = applyPatch(refs, total, entries)
		}
		if err != nil {
			return nil, integrityErr(r.locate(id), fmt.Sprintf("patch %s is malformed", id), err)
		}
	}
	return refs, nil
}

// path names a target-relative path for messages.
func (rs *restoreRun) path(rel string) string { return filepath.Join(rs.target, rel) }

func (rs *restoreRun) dir(tree crypt.ID, dst string) error {
	nodes, err := rs.r.loadTree(rs.ctx, tree)
	if err != nil {
		return err
	}
	for i := range nodes {
		n := &nodes[i]
		if err := rs.ctx.Err(); err != nil {
			return err
		}
		p := filepath.Join(dst, n.Name)
		switch n.Kind {
		case source.KindDir:
			if err := prepareDir(rs.root, p); err != nil {
				return fmt.Errorf("restoring %s: %w", rs.path(p), err)
			}
			rs.dirs = append(rs.dirs, restoredDir{path: p, mode: n.Mode, mtime: n.ModTime})
			if err := rs.dir(n.Subtree, p); err != nil {
				return err
			}
		case source.KindSymlink:
			if err := replaceWithSymlink(rs.root, p, n.Target); err != nil {
				return fmt.Errorf("restoring %s: %w", rs.path(p), err)
			}
			_ = lchtimesIn(rs.root, p, n.ModTime)
		case source.KindFile, source.KindSQLite:
			rs.g.Go(func() error { return rs.file(n, p) })
		}
	}
	return nil
}

// file writes one file to a temporary name beside its destination, then
// renames it, so a reader never sees it half-written.
func (rs *restoreRun) file(n *node, dst string) error {
	refs, err := rs.r.chunkRefs(rs.ctx, n.Content)
	if err != nil {
		return err
	}
	offsets := make(map[crypt.ID][]int64, len(refs))
	ids := make([]crypt.ID, len(refs))
	var size int64
	for i, ref := range refs {
		offsets[ref.ID] = append(offsets[ref.ID], size)
		ids[i] = ref.ID
		size += int64(ref.Len)
	}
	if size != int64(n.Size) {
		return integrityErr(rs.r.locate(n.Content.firstID()), fmt.Sprintf("%s: content adds up to %d bytes, its entry says %d", n.Name, size, n.Size), nil)
	}
	f, tmp, err := createRestoreTemp(rs.root, filepath.Dir(dst))
	if err != nil {
		return fmt.Errorf("restoring %s: %w", rs.path(dst), err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			rs.root.Remove(tmp)
		}
	}()
	err = rs.r.fetchBlobs(rs.ctx, ids, func(id crypt.ID, plain []byte) error {
		for _, off := range offsets[id] {
			if _, err := f.WriteAt(plain, off); err != nil {
				return fmt.Errorf("restoring %s: %w", rs.path(dst), err)
			}
		}
		rs.mu.Lock()
		defer rs.mu.Unlock()
		rs.done += int64(len(plain) * len(offsets[id]))
		if rs.progress != nil {
			rs.progress(rs.done, rs.total)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("restoring %s: %w", rs.path(dst), err)
	}
	if err := f.Chmod(n.Mode.Perm()); err != nil {
		return fmt.Errorf("restoring %s: %w", rs.path(dst), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("restoring %s: %w", rs.path(dst), err)
	}
	// A rename replaces a symlink at dst; it never writes through it.
	if err := rs.root.Rename(tmp, dst); err != nil {
		return fmt.Errorf("restoring %s: %w", rs.path(dst), err)
	}
	ok = true
	mt := time.Unix(0, n.ModTime)
	if err := rs.root.Chtimes(dst, mt, mt); err != nil {
		return fmt.Errorf("restoring %s: %w", rs.path(dst), err)
	}
	rs.mu.Lock()
	rs.res.Files++
	rs.res.Bytes += size
	rs.mu.Unlock()
	return nil
}

func (c content) firstID() crypt.ID {
	if c.Index != (crypt.ID{}) {
		return c.Index
	}
	if len(c.Lists) > 0 {
		return c.Lists[0]
	}
	if len(c.Chunks) > 0 {
		return c.Chunks[0].ID
	}
	return crypt.ID{}
}
