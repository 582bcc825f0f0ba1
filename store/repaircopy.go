package store

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"

	"go.uber.org/zap"
)

// repairCopies finds, on the store's other sync targets, intact copies of
// what its remote lost or holds damaged (FindCopiesOf, with the deltas
// plan found damaged inside), in dir, and takes this device's spooled
// copies of those it holds (plan.spooled) as copies too.
func (r *Store) repairCopies(ctx context.Context, dir string, plan *RepairPlan) (*Copies, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("repair: clearing %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("repair: %w", err)
	}
	c, err := r.FindCopiesOf(ctx, r.Targets(), dir, plan.dataNames())
	if err != nil {
		return nil, err
	}
	spooled, err := r.spoolCopies(plan, dir)
	c.Found = append(c.Found, spooled...)
	if err != nil {
		c.Close()
		return nil, err
	}
	sort.Slice(c.Found, func(i, j int) bool { return c.Found[i].seq < c.Found[j].seq })
	return c, nil
}

// after fills in what is left to do once c's copies are copied back: the
// plan of the history read with them (or, with none, without the deltas
// found damaged inside).
func (p *RepairPlan) after(ctx context.Context, c *Copies) error {
	s := c.after
	if s == nil {
		s = c.view
	}
	if s == nil {
		return nil
	}
	q, _, err := s.planRepair(ctx, true)
	if err != nil {
		return fmt.Errorf("repair: planning with the copies found on other remotes: %w", err)
	}
	p.adopt(q, s)
	return nil
}

// adopt takes the rest of q, the plan of s's history (with the copies in
// place), as what is left to do. Without damage left Keep is s's head.
// The deltas found damaged inside that no copy replaces are moved aside
// whatever the listing of s shows (a view lacks them).
func (p *RepairPlan) adopt(q *RepairPlan, s *Store) {
	p.Left = p.relabel(q.Damage)
	p.Keep, p.KeepSeq, p.NewSeq, p.Pinned, p.Snapshots, p.Upload, p.MoveAside = q.Keep, q.KeepSeq, q.NewSeq, q.Pinned, q.Snapshots, q.Upload, q.MoveAside
	for _, name := range p.uncopied() {
		if !slices.Contains(p.MoveAside, name) {
			p.MoveAside = append(p.MoveAside, name)
		}
	}
	sort.Strings(p.MoveAside)
	s.mu.RLock()
	defer s.mu.RUnlock()
	p.Lost = lostSince(p.before, s.snapshots)
	if !q.Intact() {
		return
	}
	if s.head != nil {
		p.Keep, p.KeepSeq = s.head.ref.name(), s.head.ref.Seq
	}
	p.Snapshots = len(s.snapshots)
}

// copyBack uploads plan's copies to the store's remote, oldest first,
// through the upload path (a damaged object of the same name moved to
// damaged/ first), and reads the remote again. It returns the newest
// intact head to cut on when damage is left (plan then says what is
// left), or nil once the history is whole.
func (r *Store) copyBack(ctx context.Context, plan *RepairPlan) (*delta, error) {
	for _, c := range plan.Copies {
		if c.Replaces {
			if err := r.moveAside(ctx, c.Name); err != nil {
				return nil, err
			}
		}
		if err := r.put(ctx, r.remote, DeltaInfo{Name: c.Name, Seq: c.seq, Size: c.Size, SpoolPath: c.path}); err != nil {
			return nil, fmt.Errorf("repair: copying %s back from remote %s: %w", c.Name, c.From, err)
		}
		r.log.Warn("copied a delta back from another remote that holds it intact", zap.String("delta", c.Name), zap.String("from", c.From))
	}
	for _, t := range r.Targets() {
		t.Forget() // the remote holds more now; the next sync lists again
	}
	after, keep, err := r.planRepair(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("repair: reading the remote after copying deltas back: %w", err)
	}
	plan.adopt(after, r)
	if !after.Intact() {
		return keep, nil
	}
	if err := r.endGuardRollback(ctx); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if derr := r.damageErr(); derr != nil {
		return nil, fmt.Errorf("repair: the copies did not end the damage: %w", derr)
	}
	r.log.Info("repository repaired from copies on other remotes", zap.Int("copied", len(plan.Copies)), zap.Uint64("head_seq", plan.KeepSeq))
	return nil, r.saveState()
}

// endGuardRollback forgets that the commit point records a newer head
// than the remote serves (NoteRollback) once the remote serves the head
// it records again: copies made the history whole.
func (r *Store) endGuardRollback(ctx context.Context) error {
	g := r.opts.CommitGuard
	r.mu.RLock()
	noted, served := r.guardRollback != nil, headRef(r.head)
	r.mu.RUnlock()
	if !noted || g == nil {
		return nil
	}
	rec, err := g.Head(ctx)
	if err != nil {
		return fmt.Errorf("repair: reading the head the commit point records: %w", err)
	}
	if rec.Seq > served.Seq || (rec.Seq == served.Seq && rec.Seq > 0 && (rec.DeltaID != served.DeltaID || rec.TrailerHash != served.TrailerHash)) {
		return nil // still behind it: the damage says so
	}
	r.mu.Lock()
	r.guardRollback = nil
	r.mu.Unlock()
	return nil
}
