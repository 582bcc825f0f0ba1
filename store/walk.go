package store

import (
	"context"
	"fmt"
	"sync"

	"github.com/chatsafe/chatsafe/crypt"
)

// Walking and verifying the whole repository, for check and prune.

// Reload reads the remote again (the head, every live trailer, the index),
// so that a check or a mount sees what is there now. When that fails the
// store keeps what it had read before: a long-lived reader goes on.
func (r *Store) Reload(ctx context.Context) error { return r.reload(ctx, false) }

// Refresh is Reload for a long-lived reader (a mount): a delta already
// loaded under the same name and size keeps the trailer authenticated
// then, so only new deltas' trailers are read (without a state directory
// Reload reads every live one from the remote). An object replaced in
// place on the remote is caught when its blobs are read, as with the
// trailer cache; a check uses Reload.
func (r *Store) Refresh(ctx context.Context) error { return r.reload(ctx, true) }

func (r *Store) reload(ctx context.Context, reuse bool) error {
	r.backupMu.Lock()
	defer r.backupMu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	before := r.loadedView()
	if reuse {
		r.loaded = before.deltas
		defer func() { r.loaded = nil }()
	}
	if err := r.load(ctx); err != nil {
		r.restoreView(before)
		return err
	}
	return nil
}

// view is what load replaces.
type view struct {
	deltas    map[[16]byte]*delta
	head      *delta
	index     *blobIndex
	snapshots []Snapshot
	garbage   []string
	fork      *Fork
	branches  []*branch
	damage    []Damage
	rollback  bool
	// offlineLeft is counted by the load, so it goes back with the rest.
	offlineLeft int
}

// loadedView and restoreView: hold mu.
func (r *Store) loadedView() view {
	return view{r.deltas, r.head, r.index, r.snapshots, r.garbage, r.fork, r.branches, r.damage, r.rollback, r.offlineLeft}
}

func (r *Store) restoreView(v view) {
	r.deltas, r.head, r.index, r.snapshots, r.garbage = v.deltas, v.head, v.index, v.snapshots, v.garbage
	r.fork, r.branches, r.damage, r.rollback, r.offlineLeft = v.fork, v.branches, v.damage, v.rollback, v.offlineLeft
}

// Stats counts what the store holds.
type Stats struct {
	Deltas    int
	Snapshots int
	Blobs     int
	Garbage   []string // objects under deltas/ that no live delta lists
	// GroupPageReads counts the pages read from groups since the store
	// was opened (a restore, a mount, check), and GroupDecodes the groups
	// decompressed for them.
	GroupPageReads, GroupDecodes int64
}

// Stats counts the live deltas, snapshots and indexed blobs.
func (r *Store) Stats() Stats {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return Stats{Deltas: len(r.deltas), Snapshots: len(r.snapshots), Blobs: r.index.Len(), Garbage: append([]string(nil), r.garbage...),
		GroupPageReads: r.groups.reads.Load(), GroupDecodes: r.groups.decodes.Load()}
}

// Has reports whether blob id is stored in a live delta.
func (r *Store) Has(id crypt.ID) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ok := r.index.has(id)
	return ok
}

// VerifyDelta reads the live delta name in large ranges and verifies every
// blob in it, including duplicates the index points elsewhere for, and its
// padding.
func (r *Store) VerifyDelta(ctx context.Context, name string) error {
	seq, id, ok := parseDeltaName(name)
	r.mu.RLock()
	d := r.deltas[id]
	r.mu.RUnlock()
	if !ok || d == nil || d.ref.Seq != seq {
		return fmt.Errorf("%s is not a live delta", name)
	}
	return r.verifyDelta(ctx, d)
}

// verifyDelta is VerifyDelta of d, which may be a copy of a live delta
// read from elsewhere (a local file: verifyCopy); the blobs it was
// compressed on are read from the repository.
func (r *Store) verifyDelta(ctx context.Context, d *delta) error {
	if err := r.forEachBlob(ctx, d, func(_ int, e *blobEntry, _ []byte) error {
		if e.Type == blobDict {
			_, err := r.readDict(ctx, blobLoc{d: d, entry: e}) // it must also parse
			return err
		}
		return nil
	}); err != nil {
		return err
	}
	if err := r.verifyDictRefs(d); err != nil {
		return err
	}
	return r.verifyPadding(ctx, d)
}

// WalkFiles visits every directory tree reachable from roots once, and
// calls file once per distinct file content with its chunk references.
// It returns every tree and list blob it read, and every group a run list
// names.
func (r *Store) WalkFiles(ctx context.Context, roots []crypt.ID, file func(tree crypt.ID, n *Node, refs []ChunkRef) error) (map[crypt.ID]struct{}, error) {
	read := map[crypt.ID]struct{}{}
	contents := map[string]bool{} // list contents already visited, by encoding
	var walk func(id crypt.ID) error
	walk = func(id crypt.ID) error {
		if _, ok := read[id]; ok {
			return nil
		}
		read[id] = struct{}{}
		nodes, err := r.Tree(ctx, id)
		if err != nil {
			return err
		}
		for i := range nodes {
			n := &nodes[i]
			switch n.Kind {
			case KindDir:
				if err := walk(n.Subtree); err != nil {
					return err
				}
			case KindFile, KindSQLite:
				if n.Content.isList() {
					e := &encoder{}
					encodeContent(e, &n.Content)
					if contents[string(e.b)] {
						continue // the same content was visited under another tree
					}
					contents[string(e.b)] = true
				}
				lists, err := r.resolveLists(ctx, n.Content)
				if err != nil {
					return err
				}
				// The lists resolved inline: ChunkRefs reads no index again.
				resolved := n.Content
				resolved.Lists, resolved.Index = lists, crypt.ID{}
				// A group a run list names stays whole (groupLive).
				var mu sync.Mutex
				refs, err := r.chunkRefs(ctx, resolved, func(g crypt.ID) {
					mu.Lock()
					read[g] = struct{}{}
					mu.Unlock()
				})
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

// forEachBlob reads a delta in large ranges, verifies every blob and calls
// fn with its index in the trailer, its entry and its sealed bytes (valid
// during the call; nil for a group's member, whose group came before it).
func (r *Store) forEachBlob(ctx context.Context, d *delta, fn func(i int, e *blobEntry, sealed []byte) error) error {
	blobs := d.trailer.Blobs
	var group []byte // the plaintext of the group whose members come next
	for start := 0; start < len(blobs); {
		lo := blobs[start].Offset
		end := start
		// A group's members go with it (they follow it, sealing nothing).
		for end < len(blobs) && (blobs[end].isMember() || blobs[end].Offset+uint64(blobs[end].SealedLen)-lo <= mergeLimit) {
			end++
		}
		if end == start {
			end = start + 1
			for end < len(blobs) && blobs[end].isMember() {
				end++
			}
		}
		last := blobs[start]
		for i := start; i < end; i++ {
			if !blobs[i].isMember() {
				last = blobs[i]
			}
		}
		raw, err := r.readRange(ctx, d, int64(lo), int64(last.Offset+uint64(last.SealedLen)-lo))
		if err != nil {
			return err
		}
		if group, err = r.openEach(ctx, d, start, end, raw, lo, group, fn); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// openEach verifies blobs start to end of d, read into raw from offset lo,
// and calls fn with each; the bases of its pages on a base are fetched
// first, together, at most baseFetchBudget of them at a time
// (basefetch.go). A group is verified whole (its own keyed id too), then
// each member against its id; group is the plaintext of the group open
// before start, and the one open at end is returned.
func (r *Store) openEach(ctx context.Context, d *delta, start, end int, raw []byte, lo uint64, group []byte, fn func(i int, e *blobEntry, sealed []byte) error) ([]byte, error) {
	blobs := d.trailer.Blobs
	for start < end {
		n, bases := r.basesOf(d.trailer, start, end)
		bctx := ctx
		if len(bases) > 0 {
			var err error
			if bctx, err = r.withBases(ctx, bases, nil, nil); err != nil {
				return nil, err
			}
		}
		for i := start; i < start+n; i++ {
			e := &blobs[i]
			loc := blobLoc{d: d, entry: e}
			var sealed []byte
			var err error
			switch {
			case e.isMember():
				_, err = r.memberAppend(loc, group, nil)
			case e.Type == blobGroup:
				off := e.Offset - lo
				sealed = raw[off : off+uint64(e.SealedLen)]
				group, err = r.openGroup(bctx, loc, sealed, &openScratch{}, group[:0], groupMembers(blobs, i))
			default:
				off := e.Offset - lo
				sealed = raw[off : off+uint64(e.SealedLen)]
				_, err = r.openBlob(bctx, loc, sealed, nil)
			}
			if err != nil {
				return nil, err
			}
			if err := fn(i, e, sealed); err != nil {
				return nil, err
			}
		}
		start += n
	}
	return group, nil
}
