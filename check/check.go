// Package check owns verifying a repository: opening the store already
// authenticated every live trailer and the chain; Run then walks every
// snapshot's trees and chunk lists and, with ReadData, reads and verifies
// every blob of every live delta. It sees the store through Store.
package check

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/store"
)

// Store is what a check reads from the store.
type Store interface {
	Reload(ctx context.Context) error
	Refresh(ctx context.Context) error
	Stats() store.Stats
	Unreferenced() []store.Unreferenced
	Snapshots() []store.Snapshot
	LiveDeltas() []store.DeltaInfo
	WalkFiles(ctx context.Context, roots []crypt.ID, file func(tree crypt.ID, n *store.Node, refs []store.ChunkRef) error) (map[crypt.ID]struct{}, error)
	Has(id crypt.ID) bool
	Locate(id crypt.ID) string
	VerifyDelta(ctx context.Context, name string) error
	Fork() *store.Fork
	Damage() *store.DamageError
	HeadRef() store.HeadRef
	TakenOver() *store.TakenOverError
}

// Options configure Run.
type Options struct {
	// ReadData downloads every delta and verifies every blob, not just
	// the structure.
	ReadData bool
	Progress func(done, total int64) // bytes read (ReadData only)
	// Opened: the store was opened just now, so Run need not read the
	// remote again before it checks.
	Opened bool
}

// Result reports what Run looked at and found.
type Result struct {
	Deltas    int
	Snapshots int
	Blobs     int
	ReadBytes int64
	Garbage   []string // delta objects under deltas/ that no live delta lists
	// Unreferenced are the objects under deltas/ outside the history
	// checked, each saying what it is (Garbage, and files not named like
	// deltas): prune's leftovers, or history past damage, or damaged.
	Unreferenced []store.Unreferenced
	// Fork is the forked history, if any: an error (exit 6) until it is
	// resolved, though both branches are checked like any other deltas.
	Fork *store.Fork
	// Damage is what the store skipped to read the newest intact history:
	// an error (exit 6) until `chatsafe repair`; that history is checked.
	Damage *store.DamageError
	// DataDamage are the live deltas found damaged inside (a blob or the
	// padding that does not authenticate, under a trailer that does):
	// by ReadData, or by the walk when it is a tree or list. Loading the
	// history reads trailers only, so `chatsafe repair --read-data`
	// repairs it. Sorted.
	DataDamage []string
	Errors     []error // every problem found; Run's error is the first
}

// Run verifies the repository of st.
func Run(ctx context.Context, st Store, opts Options) (*Result, error) {
	// Re-read the remote so the check sees what is there now.
	if !opts.Opened {
		if err := st.Reload(ctx); err != nil {
			return &Result{Errors: []error{err}}, err
		}
	}
	stats := st.Stats()
	res := &Result{Deltas: stats.Deltas, Snapshots: stats.Snapshots, Blobs: stats.Blobs, Garbage: stats.Garbage, Unreferenced: st.Unreferenced()}
	snaps := st.Snapshots()
	deltas := st.LiveDeltas()
	if res.Damage = st.Damage(); res.Damage != nil {
		res.Errors = append(res.Errors, res.Damage)
	}
	if res.Fork = st.Fork(); res.Fork != nil {
		res.Errors = append(res.Errors, &store.ForkError{Fork: *res.Fork})
	}

	fail := func(err error) error {
		res.Errors = append(res.Errors, err)
		// Stop early on unreachable remotes and cancellation; keep
		// collecting integrity problems.
		if !errors.Is(err, store.ErrIntegrity) {
			return err
		}
		return nil
	}
	roots := make([]crypt.ID, len(snaps))
	for i, s := range snaps {
		roots[i] = s.Tree
	}
	if _, err := st.WalkFiles(ctx, roots, func(tree crypt.ID, n *store.Node, refs []store.ChunkRef) error {
		return checkFile(st, tree, n, refs)
	}); err != nil {
		// A tree or list blob that does not authenticate is damage inside
		// its delta, as ReadData finds it (a walk's own finding is not).
		var ie *store.IntegrityError
		if errors.Is(err, crypt.ErrAuth) && errors.As(err, &ie) && slices.ContainsFunc(deltas, func(d store.DeltaInfo) bool { return d.Name == ie.Object }) {
			res.DataDamage = append(res.DataDamage, ie.Object)
		}
		if stop := fail(err); stop != nil {
			return res, stop
		}
	}
	if opts.ReadData {
		var total int64
		for _, d := range deltas {
			total += d.Size
		}
		for _, d := range deltas {
			err := st.VerifyDelta(ctx, d.Name)
			res.ReadBytes += d.Size
			if opts.Progress != nil {
				opts.Progress(res.ReadBytes, total)
			}
			if err != nil {
				if errors.Is(err, store.ErrIntegrity) {
					res.DataDamage = append(res.DataDamage, damagedDelta(err, d.Name, deltas))
				}
				if stop := fail(err); stop != nil {
					return res, stop
				}
			}
		}
	}
	slices.Sort(res.DataDamage)
	res.DataDamage = slices.Compact(res.DataDamage)
	if len(res.Errors) > 0 {
		return res, res.Errors[0]
	}
	return res, nil
}

// damagedDelta names the delta holding the bytes err, verifying the
// delta name, found damaged: the error's object when that is another live
// delta (a base or dictionary read from there), else name.
func damagedDelta(err error, name string, live []store.DeltaInfo) string {
	var ie *store.IntegrityError
	if errors.As(err, &ie) && ie.Object != name && slices.ContainsFunc(live, func(d store.DeltaInfo) bool { return d.Name == ie.Object }) {
		return ie.Object
	}
	return name
}

// checkFile verifies that every chunk of a file is indexed and that its
// chunks add up to its size.
func checkFile(st Store, tree crypt.ID, n *store.Node, refs []store.ChunkRef) error {
	var size uint64
	for _, ref := range refs {
		size += uint64(ref.Len)
		if !st.Has(ref.ID) {
			return &store.IntegrityError{Object: "index", Reason: fmt.Sprintf("%s: chunk %s is referenced but stored nowhere", n.Name, ref.ID)}
		}
	}
	if size != n.Size {
		return &store.IntegrityError{Object: st.Locate(tree), Reason: fmt.Sprintf("%s: content adds up to %d bytes, its entry says %d", n.Name, size, n.Size)}
	}
	return nil
}
