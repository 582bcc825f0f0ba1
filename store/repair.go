package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/remotes"
)

// damagedDir is where repair moves the deltas it takes out of the history:
// outside deltas/, so no reader opens them and prune never deletes them,
// but kept, so a damaged one can still be examined or mended by hand.
const damagedDir = "damaged"

// repairCopiesDir, in the repository's state directory, holds the copies
// repair found on other remotes while it verifies and uploads them.
const repairCopiesDir = "repair-copies"

// RepairPlan is what Repair does (or, dry, would do).
type RepairPlan struct {
	Damage []Damage
	// Copies are the deltas the remote lost, or holds damaged, that
	// another remote holds intact (verified with the key): copied back
	// first, oldest first (a damaged one there moved to damaged/ before).
	Copies []DeltaCopy
	// Rejected are copies on other remotes that failed verification:
	// never used.
	Rejected []error
	// Left is the damage left after the copies (all of Damage when there
	// are none): what the rest of the plan cuts. Without it the history
	// is whole again, and Keep is its head.
	Left []Damage
	// Keep is the newest intact head: the new head's parent.
	Keep    string
	KeepSeq uint64
	// NewSeq is the new head's sequence: above every delta listed and
	// every sequence this device saw or wrote.
	NewSeq uint64
	// Pinned are the deltas the new head lists as live (Keep's).
	Pinned    []string
	Snapshots int
	// Upload are live deltas this device holds in its spool that the
	// remote lacks: uploaded by the next sync.
	Upload []string
	// MoveAside are the objects under deltas/ newer than Keep (damaged, or
	// intact but pinned by no intact head): moved to damaged/.
	MoveAside []string
	// Lost are the snapshots listed before the repair that the repaired
	// history no longer holds, oldest first.
	Lost []Snapshot
	// ReadBytes is how much RepairOptions.ReadData read from the remote.
	ReadBytes int64
	// before are the snapshots listed before the repair (Lost is what of
	// them the repaired history lacks).
	before []Snapshot
	// data are the deltas found damaged inside (RepairOptions.ReadData),
	// with what is wrong with each; spooled, those of them this device
	// holds intact in its spool, with the spool file.
	data, spooled map[string]string
}

// Intact reports whether there was nothing to repair.
func (p *RepairPlan) Intact() bool { return len(p.Damage) == 0 }

// Cuts reports whether the repair cuts the history: damage is left that
// no copy mends, and a repair head is committed on Keep.
func (p *RepairPlan) Cuts() bool { return len(p.Left) > 0 }

// RepairOptions say what Repair does.
type RepairOptions struct {
	// DryRun only returns the plan.
	DryRun bool
	// ReadData also reads every live delta from the remote and verifies
	// every blob and the padding, as check --read-data does.
	ReadData bool
	// Progress is told the bytes read of the total (ReadData only).
	Progress func(done, total int64)
}

// Repair is RepairWith of dryRun alone.
func (r *Store) Repair(ctx context.Context, dryRun bool) (*RepairPlan, error) {
	return r.RepairWith(ctx, RepairOptions{DryRun: dryRun})
}

// RepairWith makes a damaged repository writable again. Deltas the remote
// lost or holds damaged that another sync target holds intact are copied
// back from there (FindCopies); if that makes the history whole, that is
// all. Otherwise it keeps the newest intact head's history, moves every
// delta newer than that head aside (under damaged/), and commits an empty
// head above every sequence seen whose parent is the intact head and
// whose live list is that head's. It cuts nothing while a target that
// might hold a copy of what it would cut cannot be asked. With DryRun it
// only returns the plan. The new head waits in the spool: Sync uploads
// it, and the spooled deltas the remote lost.
func (r *Store) RepairWith(ctx context.Context, o RepairOptions) (*RepairPlan, error) {
	if !r.Writable() {
		return nil, errors.New("repair needs a writable state directory")
	}
	r.backupMu.Lock()
	defer r.backupMu.Unlock()
	plan, keep, err := r.planRepair(ctx, o.DryRun)
	if err != nil {
		return plan, err
	}
	plan.before = r.Snapshots()
	if err := r.readDataDamage(ctx, o, plan); err != nil || plan.Intact() {
		return plan, err
	}
	plan.Left = plan.Damage
	dir := filepath.Join(r.dir(), repairCopiesDir)
	defer os.RemoveAll(dir)
	copies, err := r.repairCopies(ctx, dir, plan)
	if err != nil {
		return plan, err
	}
	defer copies.Close()
	plan.Copies, plan.Rejected = copies.Found, copies.Rejected
	if err := plan.after(ctx, copies); err != nil {
		return plan, err
	}
	if plan.Cuts() && len(copies.Unasked) > 0 {
		lost := strings.Join(copies.Lost, ", ")
		if lost == "" {
			lost = "what repair would cut"
		}
		return plan, fmt.Errorf("repair: %w; it may hold an intact copy of %s, and without one repair moves the history past it to damaged/: run repair again once every remote can be reached, or remove that remote from the config to repair without it",
			errors.Join(copies.Unasked...), lost)
	}
	if o.DryRun {
		return plan, nil
	}
	return plan, r.carryOut(ctx, plan, keep)
}

// carryOut does what plan says on the remote: the deltas found damaged
// inside that no copy replaces are moved aside (the remote then lacks
// them, as the plan was made), the copies are copied back, and what is
// still damaged then is cut on keep, the newest intact head.
func (r *Store) carryOut(ctx context.Context, plan *RepairPlan, keep *delta) error {
	if len(plan.data) > 0 {
		if err := r.setAside(ctx, plan); err != nil {
			return err
		}
	}
	if len(plan.Copies) > 0 {
		var err error
		if keep, err = r.copyBack(ctx, plan); err != nil || !plan.Cuts() {
			return err
		}
	} else if len(plan.data) > 0 {
		after, k, err := r.planRepair(ctx, false)
		if err != nil {
			return fmt.Errorf("repair: reading the remote after moving the damaged deltas aside: %w", err)
		}
		plan.adopt(after, r)
		if !plan.Cuts() {
			return r.saveState()
		}
		keep = k
	}
	return r.cut(ctx, plan, keep)
}

// cut carries out plan on keep, the newest intact head: it moves aside
// what is newer and commits the repair head.
func (r *Store) cut(ctx context.Context, plan *RepairPlan, keep *delta) error {
	advance, err := r.repairAdvance(ctx)
	if err != nil {
		return err
	}
	for _, name := range plan.MoveAside {
		if err := r.moveAside(ctx, name); err != nil {
			return err
		}
	}
	w, err := r.newDeltaWriter(plan.NewSeq)
	if err != nil {
		return err
	}
	r.mu.RLock()
	live := r.liveRefs()
	r.mu.RUnlock()
	d, err := w.finish(keep.ref, live, nil, keep.trailer.Forgotten, time.Now().UnixNano(), advance)
	if err != nil {
		return fmt.Errorf("writing the repair head: %w", err)
	}
	for _, t := range r.Targets() {
		t.Forget() // deltas were moved aside; the next sync lists again
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.noteWritten(d)
	if err := r.load(ctx); err != nil {
		return fmt.Errorf("reading the repaired repository: %w", err)
	}
	if derr := r.damageErr(); derr != nil {
		return fmt.Errorf("the repair head did not end the damage: %w", derr)
	}
	r.log.Info("repository repaired", zap.Uint64("seq", d.ref.Seq), zap.String("parent", keep.ref.name()), zap.Int("moved_aside", len(plan.MoveAside)))
	return r.saveState()
}

// planRepair reloads and decides what Repair does; keep is the intact head.
func (r *Store) planRepair(ctx context.Context, dryRun bool) (*RepairPlan, *delta, error) {
	if err := r.verifyHead(ctx, !dryRun); err != nil {
		return nil, nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	plan := &RepairPlan{Damage: append([]Damage(nil), r.damage...)}
	if len(r.damage) == 0 {
		return plan, nil, nil
	}
	if r.fork != nil {
		return nil, nil, fmt.Errorf("repair: %w (resolve the fork first)", &ForkError{Fork: *r.fork, ConfigFlag: r.opts.ConfigFlag})
	}
	if to := r.state.TakenOver; to != nil {
		return nil, nil, fmt.Errorf("repair: %w", to.err(r.opts.ConfigFlag))
	}
	keep := r.head
	if keep == nil {
		return nil, nil, errors.New("repair: no intact head is left to keep")
	}
	plan.Keep, plan.KeepSeq = keep.ref.name(), keep.ref.Seq
	top := max(keep.ref.Seq, r.state.SeenSeq, r.state.WriterSeq)
	objs, err := r.remote.List(ctx, deltaDir)
	if err != nil {
		return nil, nil, fmt.Errorf("repair: listing %s: %w", r.remote, err)
	}
	listed := map[string]bool{}
	for _, o := range objs {
		seq, _, ok := parseDeltaName(o.Name)
		if !ok {
			continue
		}
		listed[o.Name] = true
		top = max(top, seq)
		if seq > keep.ref.Seq {
			plan.MoveAside = append(plan.MoveAside, o.Name)
		}
	}
	for _, sp := range r.spooled() {
		top = max(top, sp.seq)
	}
	plan.NewSeq = top + 1
	for _, ref := range r.liveRefs() {
		plan.Pinned = append(plan.Pinned, ref.name())
		if d := r.deltas[ref.ID]; d.spoolPath != "" && !listed[ref.name()] {
			plan.Upload = append(plan.Upload, ref.name())
		}
	}
	plan.Snapshots = len(r.snapshots)
	sort.Strings(plan.MoveAside)
	return plan, keep, nil
}

// moveAside copies a delta object to damaged/ and deletes it from deltas/.
func (r *Store) moveAside(ctx context.Context, name string) error {
	dst := damagedDir + "/" + path.Base(name)
	info, err := r.remote.Stat(ctx, name)
	if errors.Is(err, remotes.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("repair: %s: %w", name, err)
	}
	rc, err := r.remote.Get(ctx, name, 0, -1)
	if err != nil {
		return fmt.Errorf("repair: reading %s to move it aside: %w", name, err)
	}
	err = r.remote.Put(ctx, dst, rc, info.Size)
	rc.Close()
	if err != nil {
		return fmt.Errorf("repair: copying %s to %s: %w", name, dst, err)
	}
	if err := r.remote.Delete(ctx, name); err != nil && !errors.Is(err, remotes.ErrNotFound) {
		return fmt.Errorf("repair: removing %s after copying it to %s: %w", name, dst, err)
	}
	r.log.Warn("moved a delta out of the history", zap.String("from", name), zap.String("to", dst))
	return nil
}

// verifyHead reloads, then reads the head's trailer from the remote (this
// device may hold it in its cache); a head found damaged there is
// skipped by a second load.
func (r *Store) verifyHead(ctx context.Context, dropCache bool) error {
	r.mu.Lock()
	err := r.load(ctx)
	damaged := len(r.damage) > 0
	r.mu.Unlock()
	if err != nil || damaged {
		return err
	}
	objs, err := r.remote.List(ctx, deltaDir)
	if err != nil {
		return fmt.Errorf("repair: listing %s: %w", r.remote, err)
	}
	listed := make(map[string]bool, len(objs))
	for _, o := range objs {
		listed[o.Name] = true
	}
	var de *DamageError
	if err := r.verifyRemote(ctx, listed, dropCache); err != nil && !errors.As(err, &de) {
		return err
	}
	if de == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.load(ctx)
}

// repairAdvance moves the commit point (the vault's head record), when
// there is one, to the repair head. The commit point records the damaged
// head, or one the remote lost (a rollback), which this device's loaded
// head is not: so the swap starts from what the commit point holds now,
// read just before. Another device committing in between still makes the
// swap fail (taken over), and the user asked for the repair.
func (r *Store) repairAdvance(ctx context.Context) (func(*delta) error, error) {
	g := r.opts.CommitGuard
	if g == nil {
		return func(*delta) error { return nil }, nil
	}
	recorded, err := g.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the head the commit point records: %w", err)
	}
	return func(d *delta) error {
		if err := g.Advance(ctx, recorded, headRef(d)); err != nil {
			return fmt.Errorf("moving the commit point from sequence %d to the repair head: %w", recorded.Seq, err)
		}
		return nil
	}, nil
}
