package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/faults"
	"github.com/chatsafe/chatsafe/remotes"
)

// PruneOptions configure Prune.
type PruneOptions struct {
	Policy Policy
	// MaxUpload bounds the live bytes rewritten by one run (0: unlimited);
	// what is left waits for the next run.
	MaxUpload int64
	// Targets receive the compacted deltas and lose the obsolete ones; nil
	// means every target of the store.
	Targets []*Target
	// SmallDelta: deltas smaller than this are merged (default 32 MiB).
	SmallDelta int64
	// DeadRatio: deltas with more than this fraction of unused bytes are
	// rewritten (default 0.2).
	DeadRatio float64
	// DryRun decides and reports without changing anything.
	DryRun bool
}

// PruneResult reports a prune.
type PruneResult struct {
	Decisions     []Decision // newest first
	Forgotten     int
	Rewritten     int   // deltas compacted
	Written       int   // new deltas
	Deleted       int   // objects deleted, summed over remotes
	UploadedBytes int64 // bytes of new deltas
	FreedBytes    int64 // bytes of obsolete deltas removed (first remote)
}

// Prune forgets snapshots outside the policy, rewrites the live blobs of
// small or mostly-dead deltas into fewer, larger ones and deletes what is
// no longer needed. It is crash-safe at every step: new deltas are written
// and uploaded before anything is deleted, and until the final compaction
// delta is the head, the old deltas stay live.
func (r *Store) Prune(ctx context.Context, opts PruneOptions) (*PruneResult, error) {
	if r.dir() == "" || r.opts.ReadOnly {
		return nil, errors.New("prune needs a writable state directory")
	}
	if opts.SmallDelta <= 0 {
		opts.SmallDelta = 32 << 20
	}
	if opts.DeadRatio <= 0 {
		opts.DeadRatio = 0.2
	}
	if len(opts.Targets) == 0 {
		opts.Targets = r.Targets()
	}
	r.backupMu.Lock()
	defer r.backupMu.Unlock()

	// Everything pending goes up first, so the remotes agree on the head.
	if !opts.DryRun {
		if err := r.uploadAll(ctx, opts.Targets); err != nil {
			return nil, err
		}
	}

	r.mu.RLock()
	decisions := ApplyPolicy(r.snapshots, opts.Policy)
	r.mu.RUnlock()
	res := &PruneResult{Decisions: decisions}
	keep := map[[16]byte]bool{}
	var kept []Snapshot
	for _, d := range decisions {
		if d.Keep {
			keep[d.Snapshot.ID] = true
			kept = append(kept, d.Snapshot)
		} else {
			res.Forgotten++
		}
	}
	used, err := r.usedBlobs(ctx, kept)
	if err != nil {
		return nil, fmt.Errorf("prune: reading the kept snapshots: %w", err)
	}

	plan := r.planCompaction(used, opts)
	if opts.DryRun {
		res.Rewritten = len(plan)
		return res, nil
	}
	if len(plan) > 0 || res.Forgotten > 0 {
		if err := r.compact(ctx, plan, used, keep, res); err != nil {
			return res, err
		}
		if err := faults.Point("prune:written"); err != nil {
			return res, err
		}
		if err := r.uploadAll(ctx, opts.Targets); err != nil {
			return res, err
		}
		if err := faults.Point("prune:uploaded"); err != nil {
			return res, err
		}
	}
	if err := r.deleteGarbage(ctx, opts.Targets, res); err != nil {
		return res, err
	}
	return res, nil
}

// uploadAll brings every target prune works on up to date, so that they
// agree on the head.
func (r *Store) uploadAll(ctx context.Context, ts []*Target) error {
	_, err := r.SyncTargets(ctx, ts)
	return err
}

// usedBlobs walks the snapshots and returns every blob they reference.
func (r *Store) usedBlobs(ctx context.Context, snaps []Snapshot) (map[crypt.ID]struct{}, error) {
	roots := make([]crypt.ID, len(snaps))
	for i, s := range snaps {
		roots[i] = s.Tree
	}
	var chunks []crypt.ID
	used, err := r.WalkFiles(ctx, roots, func(_ crypt.ID, _ *Node, refs []ChunkRef) error {
		for _, c := range refs {
			chunks = append(chunks, c.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, c := range chunks {
		used[c] = struct{}{}
	}
	return used, nil
}

// planCompaction picks the deltas to rewrite: small ones and mostly-dead
// ones, oldest first, within the upload budget.
func (r *Store) planCompaction(used map[crypt.ID]struct{}, opts PruneOptions) []*delta {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var cands []*delta
	live := map[*delta]int64{}
	for _, d := range r.deltas {
		var liveBytes, total int64
		for i := range d.trailer.Blobs {
			e := &d.trailer.Blobs[i]
			total += int64(e.SealedLen)
			if _, ok := used[e.ID]; ok && r.index[e.ID].entry == e {
				liveBytes += int64(e.SealedLen)
			}
		}
		live[d] = liveBytes
		dead := total - liveBytes
		if d.size < opts.SmallDelta || (total > 0 && float64(dead)/float64(total) > opts.DeadRatio) {
			cands = append(cands, d)
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].ref.Seq < cands[j].ref.Seq })
	// Rewriting a lone delta that has nothing dead gains nothing.
	if len(cands) == 1 {
		d := cands[0]
		var total int64
		for _, e := range d.trailer.Blobs {
			total += int64(e.SealedLen)
		}
		if live[d] == total {
			return nil
		}
	}
	var plan []*delta
	var budget int64
	for _, d := range cands {
		if opts.MaxUpload > 0 && budget+live[d] > opts.MaxUpload && len(plan) > 0 {
			break
		}
		budget += live[d]
		plan = append(plan, d)
	}
	return plan
}

// compact writes the live blobs of the planned deltas, and the kept
// snapshot records they carry, into new deltas in the spool and makes the
// last one the head. Intermediate deltas (past the size cap) still list
// the old deltas as live, so a crash between them loses nothing.
func (r *Store) compact(ctx context.Context, plan []*delta, used map[crypt.ID]struct{}, keep map[[16]byte]bool, res *PruneResult) error {
	rewrite := map[*delta]bool{}
	for _, d := range plan {
		rewrite[d] = true
	}
	r.mu.RLock()
	var carried []Snapshot
	var forgotten [][16]byte
	for _, d := range r.deltas {
		for _, s := range d.trailer.Snapshots {
			switch {
			case keep[s.ID] && rewrite[d]:
				carried = append(carried, s)
			case !keep[s.ID] && !rewrite[d]:
				forgotten = append(forgotten, s.ID)
			}
		}
	}
	r.mu.RUnlock()
	sort.Slice(carried, func(i, j int) bool { return carried[i].Seq < carried[j].Seq })
	sort.Slice(forgotten, func(i, j int) bool { return string(forgotten[i][:]) < string(forgotten[j][:]) })

	var w *deltaWriter
	var written []*delta
	finish := func(final bool) error {
		r.mu.RLock()
		parent := r.head.ref
		var live []deltaRef
		snaps, forg := []Snapshot(nil), r.head.trailer.Forgotten
		for _, ref := range r.liveRefs() {
			if final && rewrite[r.deltas[ref.ID]] {
				continue
			}
			live = append(live, ref)
		}
		r.mu.RUnlock()
		if final {
			snaps, forg = carried, forgotten
		}
		d, err := w.finish(parent, live, snaps, forg, time.Now().UnixNano())
		w = nil
		if err != nil {
			return err
		}
		written = append(written, d)
		res.Written++
		res.UploadedBytes += d.size
		r.mu.Lock()
		r.deltas[d.ref.ID] = d
		if final {
			for old := range rewrite {
				delete(r.deltas, old.ref.ID)
				if old.spoolPath != "" {
					removeQuiet(old.spoolPath)
				}
			}
			r.index = map[crypt.ID]blobLoc{}
			for _, ld := range r.deltas {
				r.addToIndex(ld)
			}
		} else {
			r.addToIndex(d)
		}
		r.head = d
		r.rebuildSnapshots()
		r.mu.Unlock()
		return r.noteSeen(d.ref.Seq)
	}
	newWriter := func() error {
		var err error
		w, err = r.newDeltaWriter(r.HeadSeq() + 1)
		return err
	}
	if err := newWriter(); err != nil {
		return err
	}
	for _, d := range plan {
		err := r.forEachBlob(ctx, d, func(e *blobEntry, sealed []byte) error {
			if _, ok := used[e.ID]; !ok {
				return nil
			}
			if _, dup := w.has[e.ID]; dup {
				return nil
			}
			r.mu.RLock()
			loc := r.index[e.ID]
			r.mu.RUnlock()
			// A blob indexed in a delta we keep is already safe.
			if !rewrite[loc.d] {
				return nil
			}
			if int64(w.size()) >= r.opts.DeltaSizeCap {
				if err := finish(false); err != nil {
					return err
				}
				if err := newWriter(); err != nil {
					return err
				}
			}
			return w.addSealed(e, sealed)
		})
		if err != nil {
			if w != nil {
				w.abort()
			}
			return fmt.Errorf("prune: compacting %s: %w", d.ref.name(), err)
		}
		res.Rewritten++
		r.log.Info("compacted", zap.String("delta", d.ref.name()))
	}
	return finish(true)
}

// deleteGarbage removes from every remote the delta objects the head does
// not list, and leftovers of interrupted uploads.
func (r *Store) deleteGarbage(ctx context.Context, ts []*Target, res *PruneResult) error {
	r.mu.RLock()
	live := map[string]bool{}
	for _, ref := range r.liveRefs() {
		live[ref.name()] = true
	}
	headSeq := r.head.ref.Seq
	r.mu.RUnlock()
	for i, t := range ts {
		rem := t.Remote
		objs, err := rem.List(ctx, deltaDir)
		if err != nil {
			return fmt.Errorf("prune: listing %s: %w", rem, err)
		}
		for _, o := range objs {
			seq, _, ok := parseDeltaName(o.Name)
			if !ok || live[o.Name] || seq > headSeq {
				continue
			}
			if err := rem.Delete(ctx, o.Name); err != nil && !errors.Is(err, remotes.ErrNotFound) {
				return fmt.Errorf("prune: deleting %s from %s: %w", o.Name, rem, err)
			}
			res.Deleted++
			if i == 0 {
				res.FreedBytes += o.Size
			}
			if err := faults.Point("prune:deleted-one"); err != nil {
				return err
			}
		}
		if err := rem.CleanupPartial(ctx, time.Hour); err != nil {
			r.log.Warn("cleaning up interrupted uploads failed", zap.String("remote", rem.String()), zap.Error(err))
		}
	}
	r.mu.Lock()
	r.garbage = nil
	r.mu.Unlock()
	return nil
}
