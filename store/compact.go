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

// Compaction, for prune: the store rewrites the live blobs of chosen
// deltas into new ones and deletes what the head no longer lists; prune
// decides what to keep and what to rewrite.

// Exclusive holds off backups (and other prunes) until unlock is called.
func (r *Store) Exclusive() (unlock func()) {
	r.backupMu.Lock()
	return r.backupMu.Unlock
}

// Writable reports whether the store has a state directory it may write
// (a backup or prune needs one).
func (r *Store) Writable() bool { return r.dir() != "" && !r.opts.ReadOnly }

// DeltaUsage is how much of a live delta the kept snapshots still use.
type DeltaUsage struct {
	Name       string
	Seq        uint64
	Size       int64 // the object's size
	TotalBytes int64 // sealed bytes of its blobs
	LiveBytes  int64 // sealed bytes of blobs in use and indexed here
}

// Usage reports every live delta's use by the blobs in used, ascending by
// sequence. A blob counts as live only in the delta the index points to
// (a duplicate elsewhere is dead). used gets the dictionaries its blobs
// were compressed with: they are in use as long as those blobs are.
func (r *Store) Usage(used map[crypt.ID]struct{}) []DeltaUsage {
	r.addDictRefs(used)
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]DeltaUsage, 0, len(r.deltas))
	for _, d := range r.deltas {
		u := DeltaUsage{Name: d.ref.name(), Seq: d.ref.Seq, Size: d.size}
		for i := range d.trailer.Blobs {
			e := &d.trailer.Blobs[i]
			u.TotalBytes += int64(e.SealedLen)
			if e.Type == blobGroup {
				if r.groupLiveLocked(d, groupMembers(d.trailer.Blobs, i), used) {
					u.LiveBytes += int64(e.SealedLen)
				}
			} else if _, ok := used[e.ID]; ok && r.index.at(e.ID) == e {
				u.LiveBytes += int64(e.SealedLen)
			}
		}
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// CompactResult reports a compaction.
type CompactResult struct {
	Rewritten     int   // deltas compacted
	Written       int   // new deltas
	UploadedBytes int64 // bytes of new deltas
}

// Compact writes the live blobs (those in used) of the deltas named in
// plan, and the kept snapshot records (keep) they carry, into new deltas
// in the spool, and makes the last one the head; snapshots not in keep
// are forgotten. Intermediate deltas (past the size cap) still list the
// old deltas as live, so a crash between them loses nothing. Sync the
// targets afterwards, then DeleteGarbage.
func (r *Store) Compact(ctx context.Context, plan []string, used map[crypt.ID]struct{}, keep map[[16]byte]bool) (*CompactResult, error) {
	var deltas []*delta
	r.mu.RLock()
	for _, name := range plan {
		seq, id, ok := parseDeltaName(name)
		d := r.deltas[id]
		if !ok || d == nil || d.ref.Seq != seq {
			r.mu.RUnlock()
			return nil, fmt.Errorf("compacting %s: not a live delta", name)
		}
		deltas = append(deltas, d)
	}
	r.mu.RUnlock()
	// What was backed up offline is checked before a compaction folds it
	// into deltas that go to the remotes.
	if err := r.confirmOffline(ctx); err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	if err := r.writerCheck(ctx); err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	r.addDictRefs(used) // a kept blob keeps its dictionary
	res := &CompactResult{}
	return res, r.compact(ctx, deltas, used, keep, res)
}

// snapshotRecords splits the snapshot records for a compaction: the kept
// ones in rewritten deltas are carried into the new head; the forgotten
// ones in deltas that stay are listed as forgotten.
func (r *Store) snapshotRecords(rewrite map[*delta]bool, keep map[[16]byte]bool) (carried []Snapshot, forgotten [][16]byte) {
	r.mu.RLock()
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
	return carried, forgotten
}

// compact writes the live blobs of the planned deltas, and the kept
// snapshot records they carry, into new deltas in the spool and makes the
// last one the head. Intermediate deltas (past the size cap) still list
// the old deltas as live, so a crash between them loses nothing.
func (r *Store) compact(ctx context.Context, plan []*delta, used map[crypt.ID]struct{}, keep map[[16]byte]bool, res *CompactResult) error {
	rewrite := map[*delta]bool{}
	for _, d := range plan {
		rewrite[d] = true
	}
	carried, forgotten := r.snapshotRecords(rewrite, keep)

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
		d, err := w.finish(parent, live, snaps, forg, time.Now().UnixNano(), func(d *delta) error { return r.guardAdvance(ctx, d) })
		w = nil
		if err != nil {
			return err
		}
		written = append(written, d)
		res.Written++
		res.UploadedBytes += d.size
		if !final {
			return r.adoptCompacted(d, nil)
		}
		return r.adoptCompacted(d, rewrite)
	}
	newWriter := func() error {
		var err error
		w, err = r.newDeltaWriter(r.HeadSeq() + 1)
		return err
	}
	if err := newWriter(); err != nil {
		return err
	}
	grouped := r.keptGroupMembers(plan, used)
	stage := "compacting " + plural(len(plan), "delta")
	r.progress(stage, 0, len(plan))
	for _, d := range plan {
		err := r.forEachBlob(ctx, d, func(i int, e *blobEntry, sealed []byte) error {
			members, keep := r.compactKeeps(d, i, e, used, rewrite, grouped, w)
			if !keep {
				return nil
			}
			if w.fullN(len(sealed), len(members)+1, r.opts.DeltaSizeCap) {
				if err := finish(false); err != nil {
					return err
				}
				if err := newWriter(); err != nil {
					return err
				}
			}
			if e.Type == blobGroup {
				return w.addGroupSealed(e, d.trailer, members, sealed)
			}
			return w.addSealed(e, d.trailer, sealed)
		})
		if err != nil {
			if w != nil {
				w.abort()
			}
			return fmt.Errorf("prune: compacting %s: %w", d.ref.name(), err)
		}
		res.Rewritten++
		r.log.Info("compacted", zap.String("delta", d.ref.name()))
		r.progress(stage, res.Rewritten, len(plan))
	}
	if !w.fits(snapshotsSize(carried, len(forgotten)), r.opts.DeltaSizeCap) {
		// The records the head carries go into a delta with room for them.
		if err := finish(false); err != nil {
			return err
		}
		if err := newWriter(); err != nil {
			return err
		}
	}
	return finish(true)
}

// adoptCompacted makes d, a delta compaction wrote, the head; the deltas
// in rewritten (the last one's: those it replaces) leave the history.
func (r *Store) adoptCompacted(d *delta, rewritten map[*delta]bool) error {
	r.mu.Lock()
	r.deltas[d.ref.ID] = d
	if rewritten != nil {
		for old := range rewritten {
			delete(r.deltas, old.ref.ID)
			if old.spoolPath != "" {
				removeQuiet(old.spoolPath)
			}
		}
		r.index = newBlobIndex()
		for _, ld := range r.deltas {
			r.addToIndex(ld)
		}
		// Their cached trailers, and copies of the dictionaries they
		// alone held, go with them.
		r.sweepStateCaches()
	} else {
		r.addToIndex(d)
	}
	r.head = d
	r.noteWritten(d)
	r.rebuildSnapshots()
	r.mu.Unlock()
	return r.noteSeen(d)
}

// DeleteGarbage removes from every target the delta objects the head does
// not list, and leftovers of interrupted uploads. It returns how many
// objects it deleted (summed over the targets) and the bytes freed on the
// first target.
func (r *Store) DeleteGarbage(ctx context.Context, ts []*Target) (deleted int, freed int64, err error) {
	r.mu.RLock()
	live := map[string]bool{}
	for _, ref := range r.liveRefs() {
		live[ref.name()] = true
	}
	headSeq := r.head.ref.Seq
	fork := r.fork
	damage := r.damageErr()
	takenOver := r.state.TakenOver
	r.mu.RUnlock()
	if takenOver != nil {
		// Another device writes: its prune deletes, not this one's (a
		// prune that compacted something stopped at the commit already).
		return 0, 0, fmt.Errorf("prune: deleting nothing: %w", takenOver.err(r.opts.ConfigFlag))
	}
	if fork != nil {
		return 0, 0, fmt.Errorf("prune: deleting nothing: %w", &ForkError{Fork: *fork, ConfigFlag: r.opts.ConfigFlag})
	}
	if damage != nil {
		// The damaged objects are what repair moves aside, and the
		// evidence of a rollback: never deleted as garbage.
		return 0, 0, fmt.Errorf("prune: deleting nothing: %w", damage)
	}
	for i, t := range ts {
		rem := t.Remote
		objs, err := rem.List(ctx, deltaDir)
		if err != nil {
			return deleted, freed, fmt.Errorf("prune: listing %s: %w", rem, err)
		}
		var garbage []remotes.ObjectInfo
		for _, o := range objs {
			seq, _, ok := parseDeltaName(o.Name)
			// At or past the head's sequence, a delta this store does not
			// list is another device's (a fork in the making), never garbage.
			if ok && !live[o.Name] && seq < headSeq {
				garbage = append(garbage, o)
			}
		}
		stage := fmt.Sprintf("deleting %s no longer needed from %s", plural(len(garbage), "delta"), rem)
		if len(garbage) > 0 {
			r.progress(stage, 0, len(garbage))
		}
		for n, o := range garbage {
			if err := rem.Delete(ctx, o.Name); err != nil && !errors.Is(err, remotes.ErrNotFound) {
				return deleted, freed, fmt.Errorf("prune: deleting %s from %s: %w", o.Name, rem, err)
			}
			deleted++
			r.log.Debug("deleted an obsolete delta", zap.String("remote", rem.String()), zap.String("delta", o.Name), zap.Uint64("head_seq", headSeq))
			if i == 0 {
				freed += o.Size
			}
			if err := faults.Point("prune:deleted-one"); err != nil {
				return deleted, freed, err
			}
			r.progress(stage, n+1, len(garbage))
		}
		if err := rem.CleanupPartial(ctx, time.Hour); err != nil {
			r.log.Warn("cleaning up interrupted uploads failed", zap.String("remote", rem.String()), zap.Error(err))
		}
	}
	r.mu.Lock()
	r.garbage = nil
	r.mu.Unlock()
	return deleted, freed, nil
}

// keptGroupMembers returns the ids of the members of the groups a
// compaction of plan keeps whole (compactKeeps) that the index reads from
// another copy: only such a copy could be copied alone too (most pages
// are stored once, and the set stays small).
func (r *Store) keptGroupMembers(plan []*delta, used map[crypt.ID]struct{}) map[crypt.ID]bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := map[crypt.ID]bool{}
	for _, d := range plan {
		blobs := d.trailer.Blobs
		for i := range blobs {
			if blobs[i].Type != blobGroup {
				continue
			}
			if members := groupMembers(blobs, i); r.groupLiveLocked(d, members, used) {
				for k := range members {
					if r.index.at(members[k].ID) != &members[k] {
						out[members[k].ID] = true
					}
				}
			}
		}
	}
	return out
}

// compactKeeps reports whether compaction copies blob i of d, e, into w,
// and a group's members (copied with it): a group while any member is
// live, a blob when it is used, not in w yet, not a member of a group
// the compaction keeps (grouped: a page stored alone and in a group, as
// forks that merged leave it, is copied once, with its group, whichever
// is read first), and read from here (a blob indexed in a delta that
// stays is safe already; of several copies only the indexed one, whose
// dictionary is kept, is copied). A member goes with its group, never
// alone.
func (r *Store) compactKeeps(d *delta, i int, e *blobEntry, used map[crypt.ID]struct{}, rewrite map[*delta]bool, grouped map[crypt.ID]bool, w *deltaWriter) ([]blobEntry, bool) {
	switch {
	case e.isMember():
		return nil, false
	case e.Type == blobGroup:
		members := groupMembers(d.trailer.Blobs, i)
		return members, r.groupLive(d, members, used)
	}
	if _, ok := used[e.ID]; !ok {
		return nil, false
	}
	if grouped[e.ID] || w.holds(e.ID) {
		return nil, false
	}
	r.mu.RLock()
	loc, _ := r.index.get(e.ID)
	r.mu.RUnlock()
	return nil, rewrite[loc.d] && loc.entry == e
}
