package repo

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/source"
)

// CheckOptions configure Check.
type CheckOptions struct {
	// ReadData downloads every delta and verifies every blob, not just
	// the structure.
	ReadData bool
	Progress func(done, total int64) // bytes read (ReadData only)
}

// CheckResult reports what Check looked at and found.
type CheckResult struct {
	Deltas    int
	Snapshots int
	Blobs     int
	ReadBytes int64
	Garbage   []string // objects under deltas/ that no live delta lists (prune removes them)
	Errors    []error  // every problem found; Check's error is the first
}

// Check verifies the repository. Opening it already authenticated every
// live trailer and the chain; Check then walks every snapshot's trees and
// chunk lists and, with ReadData, reads and verifies every blob.
func (r *Repository) Check(ctx context.Context, opts CheckOptions) (*CheckResult, error) {
	// Re-read the remote so the check sees what is there now.
	r.backupMu.Lock()
	r.mu.Lock()
	err := r.load(ctx)
	r.mu.Unlock()
	r.backupMu.Unlock()
	if err != nil {
		return &CheckResult{Errors: []error{err}}, err
	}
	r.mu.RLock()
	res := &CheckResult{Deltas: len(r.deltas), Snapshots: len(r.snapshots), Blobs: len(r.index), Garbage: append([]string(nil), r.garbage...)}
	snaps := append([]Snapshot(nil), r.snapshots...)
	deltas := make([]*delta, 0, len(r.deltas))
	for _, d := range r.deltas {
		deltas = append(deltas, d)
	}
	r.mu.RUnlock()
	sort.Slice(deltas, func(i, j int) bool { return deltas[i].ref.Seq < deltas[j].ref.Seq })

	fail := func(err error) error {
		res.Errors = append(res.Errors, err)
		// Stop early on unreachable remotes and cancellation; keep
		// collecting integrity problems.
		if !errors.Is(err, ErrIntegrity) {
			return err
		}
		return nil
	}
	roots := make([]crypt.ID, len(snaps))
	for i, s := range snaps {
		roots[i] = s.Tree
	}
	if _, err := r.walkFiles(ctx, roots, r.checkFile); err != nil {
		if stop := fail(err); stop != nil {
			return res, stop
		}
	}
	if opts.ReadData {
		var total int64
		for _, d := range deltas {
			total += d.size
		}
		for _, d := range deltas {
			err := r.verifyDelta(ctx, d)
			res.ReadBytes += d.size
			if opts.Progress != nil {
				opts.Progress(res.ReadBytes, total)
			}
			if err != nil {
				if stop := fail(err); stop != nil {
					return res, stop
				}
			}
		}
	}
	if len(res.Errors) > 0 {
		return res, res.Errors[0]
	}
	return res, nil
}

// checkFile verifies that every chunk of a file is indexed and that its
// chunks add up to its size.
func (r *Repository) checkFile(tree crypt.ID, n *node, refs []chunkRef) error {
	var size uint64
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, ref := range refs {
		size += uint64(ref.Len)
		if _, ok := r.index[ref.ID]; !ok {
			return integrityErr("index", fmt.Sprintf("%s: chunk %s is referenced but stored nowhere", n.Name, ref.ID), nil)
		}
	}
	if size != n.Size {
		loc := "index"
		if l, ok := r.index[tree]; ok {
			loc = l.d.ref.name()
		}
		return integrityErr(loc, fmt.Sprintf("%s: content adds up to %d bytes, its entry says %d", n.Name, size, n.Size), nil)
	}
	return nil
}

// walkFiles visits every directory tree reachable from roots once, and
// calls file once per distinct file content with its chunk references.
// It returns every tree and list blob it read.
func (r *Repository) walkFiles(ctx context.Context, roots []crypt.ID, file func(tree crypt.ID, n *node, refs []chunkRef) error) (map[crypt.ID]struct{}, error) {
	read := map[crypt.ID]struct{}{}
	contents := map[string]bool{} // list contents already visited, by encoding
	var walk func(id crypt.ID) error
	walk = func(id crypt.ID) error {
		if _, ok := read[id]; ok {
			return nil
		}
		read[id] = struct{}{}
		nodes, err := r.loadTree(ctx, id)
		if err != nil {
			return err
		}
		for i := range nodes {
			n := &nodes[i]
			switch n.Kind {
			case source.KindDir:
				if err := walk(n.Subtree); err != nil {
					return err
				}
			case source.KindFile, source.KindSQLite:
				if n.Content.isList() {
					e := &encoder{}
					encodeContent(e, &n.Content)
					if contents[string(e.b)] {
						continue // the same content was visited under another tree
					}
					contents[string(e.b)] = true
				}
				refs, err := r.chunkRefs(ctx, n.Content)
				if err != nil {
					return err
				}
				lists, err := r.resolveLists(ctx, n.Content)
				if err != nil {
					return err
				}
				for _, l := range lists {
					read[l] = struct{}{}
				}
				if n.Content.Index != (crypt.ID{}) {
					read[n.Content.Index] = struct{}{}
				}
				for _, p := range n.Content.Patches {
					read[p] = struct{}{}
				}
				if err := file(id, n, refs); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, root := range roots {
		if err := walk(root); err != nil {
			return read, err
		}
	}
	return read, nil
}

// verifyDelta reads a whole delta in large ranges and verifies every blob
// in it, including duplicates the index points elsewhere for.
func (r *Repository) verifyDelta(ctx context.Context, d *delta) error {
	if err := r.forEachBlob(ctx, d, func(*blobEntry, []byte) error { return nil }); err != nil {
		return err
	}
	return r.verifyPadding(ctx, d)
}

// forEachBlob reads a delta in large ranges, verifies every blob and calls
// fn with its entry and its sealed bytes (valid during the call).
func (r *Repository) forEachBlob(ctx context.Context, d *delta, fn func(e *blobEntry, sealed []byte) error) error {
	for start := 0; start < len(d.trailer.Blobs); {
		lo := d.trailer.Blobs[start].Offset
		end := start
		for end < len(d.trailer.Blobs) && d.trailer.Blobs[end].Offset+uint64(d.trailer.Blobs[end].SealedLen)-lo <= mergeLimit {
			end++
		}
		if end == start {
			end = start + 1
		}
		last := d.trailer.Blobs[end-1]
		raw, err := r.readRange(ctx, d, int64(lo), int64(last.Offset+uint64(last.SealedLen)-lo))
		if err != nil {
			return err
		}
		for i := start; i < end; i++ {
			e := &d.trailer.Blobs[i]
			off := e.Offset - lo
			sealed := raw[off : off+uint64(e.SealedLen)]
			if _, err := r.openBlob(blobLoc{d: d, entry: e}, sealed, nil); err != nil {
				return err
			}
			if err := fn(e, sealed); err != nil {
				return err
			}
		}
		start = end
	}
	return nil
}
