package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/remotes"
)

// Damage inside a delta: a blob (or the padding) that does not
// authenticate in a delta whose trailer does. Opening reads trailers
// only, so the history loads whole over it, and only reading every blob
// (check --read-data, RepairOptions.ReadData) finds it. Repair then treats
// such a delta as one the remote lost: it reads the history through a view
// of the remote without it (withoutDeltas), so that the damage, the
// intact head, the copies to look for on the other remotes and what a cut
// moves aside are decided exactly as for a lost delta; only once the plan
// is settled (and no remote that might hold a copy is out of reach) does
// it move the damaged object to damaged/, or put the verified copy in its
// place.

// readDataDamage, with o.ReadData, reads every live delta of the loaded
// history from the remote (that copy, whatever the spool or the trailer
// cache hold) and verifies its trailer, every blob and the padding as
// check --read-data does. A delta that does not verify is read again
// before it counts: one that verifies then was a read error on the way,
// logged and left alone. Each delta holding damaged bytes is added to
// plan.Damage once. A damaged delta this device still holds intact in its
// spool is re-uploaded from there (plan.spooled); one damaged there too
// stops the repair.
func (r *Store) readDataDamage(ctx context.Context, o RepairOptions, plan *RepairPlan) error {
	if !o.ReadData {
		return nil
	}
	r.mu.RLock()
	var live []*delta
	for _, d := range r.deltas {
		if d.onRemote {
			live = append(live, d)
		}
	}
	fork := r.fork
	r.mu.RUnlock()
	if fork != nil {
		return fmt.Errorf("repair: %w (resolve the fork first)", &ForkError{Fork: *fork, ConfigFlag: r.opts.ConfigFlag})
	}
	sort.Slice(live, func(i, j int) bool { return live[i].ref.Seq < live[j].ref.Seq })
	var total int64
	for _, d := range live {
		total += d.size
	}
	bad := map[string]string{}
	read := func(d *delta) error {
		err := r.verifyOnRemote(ctx, d)
		plan.ReadBytes += d.size
		if o.Progress != nil {
			o.Progress(plan.ReadBytes, total)
		}
		return err
	}
	for _, d := range live {
		err := read(d)
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrIntegrity) {
			return fmt.Errorf("repair: reading every blob of %s: %w", d.ref.name(), err)
		}
		// One read that does not authenticate may be the way, not the
		// object (a flipped bit in transit, a proxy's bad cache), and
		// acting on it cuts history: as a missing delta is asked for
		// again (confirmGone), a damaged one is read again, from the
		// remote, before anything is planned on it.
		total += d.size
		again := read(d)
		if again == nil {
			r.log.Warn("a delta did not verify, and did when read again: a read error on the way, not damage on the remote; nothing is done about it (if it recurs, check the network or the remote's cache)",
				zap.String("delta", d.ref.name()), zap.String("remote", r.remote.String()), zap.NamedError("first_read", err))
			continue
		}
		if !errors.Is(again, ErrIntegrity) {
			return fmt.Errorf("repair: reading %s again, after a read of it did not verify (%w): %w", d.ref.name(), err, again)
		}
		dmg := damageOf(again, "")
		// A base or dictionary read from another live delta: the damage
		// is there.
		name := d.ref.name()
		if dmg.Object != name && r.liveDelta(dmg.Object) != nil {
			name = dmg.Object
		}
		if _, seen := bad[name]; !seen {
			bad[name] = dmg.Reason + " (found reading every blob)"
		}
	}
	if len(bad) == 0 {
		return nil
	}
	plan.data = bad
	for name, reason := range bad {
		plan.Damage = append(plan.Damage, Damage{Object: name, Reason: reason})
	}
	sort.Slice(plan.Damage, func(i, j int) bool { return plan.Damage[i].Object < plan.Damage[j].Object })
	return r.spooledIntact(ctx, plan)
}

// verifyOnRemote verifies the remote's copy of the live delta d: its
// trailer, read from the remote, opens and is the one the history pins,
// and every blob and the padding authenticate.
func (r *Store) verifyOnRemote(ctx context.Context, d *delta) error {
	cp := &delta{ref: d.ref, size: d.size, onRemote: true}
	plain, t, err := r.readTrailerUncached(ctx, cp)
	if err != nil {
		return err
	}
	if trailerHash(plain) != d.ref.TrailerHash {
		return integrityErr(d.ref.name(), "its trailer on the remote is not the one the history pins (replaced)", nil)
	}
	cp.trailer = t
	return r.verifyDelta(ctx, cp)
}

// spooledIntact notes the damaged deltas this device still holds in its
// spool (not yet on every remote): the view of the remote reads them from
// there, so only that copy can stand in for the remote's. It must verify.
func (r *Store) spooledIntact(ctx context.Context, plan *RepairPlan) error {
	for name := range plan.data {
		d := r.liveDelta(name)
		if d == nil || d.spoolPath == "" {
			continue
		}
		if err := r.verifyDelta(ctx, d); err != nil {
			return fmt.Errorf("repair: %s is damaged on %s, and this device's spooled copy of it (%s) does not verify either: %w", name, r.remote, d.spoolPath, err)
		}
		if plan.spooled == nil {
			plan.spooled = map[string]string{}
		}
		plan.spooled[name] = d.spoolPath
	}
	return nil
}

// spoolCopies are the spooled copies of plan.spooled as DeltaCopies in
// dir (linked, or copied, there: Copies.Close removes its files).
func (r *Store) spoolCopies(plan *RepairPlan, dir string) ([]DeltaCopy, error) {
	var out []DeltaCopy
	for name, src := range plan.spooled {
		d := r.liveDelta(name)
		if d == nil {
			continue
		}
		dst := filepath.Join(dir, "spool-"+filepath.Base(name))
		if err := linkOrCopy(src, dst); err != nil {
			return out, fmt.Errorf("repair: taking the spooled copy of %s: %w", name, err)
		}
		out = append(out, DeltaCopy{Name: name, From: "this device's spool", Replaces: true, Size: d.size, seq: d.ref.Seq, path: dst})
	}
	return out, nil
}

func linkOrCopy(src, dst string) error {
	if os.Link(src, dst) == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// FindCopiesOf is FindCopies with the live deltas damaged counted as held
// damaged by the store's remote (their blobs failed to verify there: check
// --read-data): the history is read through a view of the remote without
// them, and a copy found of one replaces it (DeltaCopy.Replaces).
func (r *Store) FindCopiesOf(ctx context.Context, from []*Target, dir string, damaged []string) (*Copies, error) {
	if len(damaged) == 0 {
		return r.FindCopies(ctx, from, dir)
	}
	hidden := map[string]bool{}
	for _, name := range damaged {
		hidden[name] = true
	}
	v, err := Open(ctx, &withoutDeltas{Remote: r.remote, hidden: hidden}, r.key, r.readOnlyOpts())
	if err != nil {
		return nil, fmt.Errorf("reading the history without the damaged deltas: %w", err)
	}
	// Its own remote, the one holding them damaged, is no source.
	var others []*Target
	for _, t := range from {
		if t.Remote != r.remote {
			others = append(others, t)
		}
	}
	c, err := v.FindCopies(ctx, others, dir)
	if err != nil {
		v.Close()
		return nil, err
	}
	c.view = v
	for i := range c.Found {
		if hidden[c.Found[i].Name] {
			c.Found[i].Replaces = true
		}
	}
	return c, nil
}

// setAside moves the deltas plan found damaged inside that no copy
// replaces to damaged/: the remote then lacks them, as the plan was made.
func (r *Store) setAside(ctx context.Context, plan *RepairPlan) error {
	for _, name := range plan.uncopied() {
		if err := r.moveAside(ctx, name); err != nil {
			return err
		}
	}
	for _, t := range r.Targets() {
		t.Forget() // the remote holds less now; the next sync lists again
	}
	return nil
}

// uncopied are the deltas found damaged inside that no copy replaces,
// sorted.
func (p *RepairPlan) uncopied() []string {
	var out []string
	for name := range p.data {
		if !slices.ContainsFunc(p.Copies, func(c DeltaCopy) bool { return c.Name == name }) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// relabel says, for each damage entry naming a delta found damaged inside
// (read through the view that lacks it, it is "missing"), what is wrong
// with it.
func (p *RepairPlan) relabel(damage []Damage) []Damage {
	if len(p.data) == 0 {
		return damage
	}
	out := make([]Damage, len(damage))
	for i, d := range damage {
		if reason, ok := p.data[d.Object]; ok {
			d.Reason = reason
		}
		out[i] = d
	}
	return out
}

// lostSince lists the snapshots of before that kept lacks, oldest first.
func lostSince(before, kept []Snapshot) []Snapshot {
	have := make(map[[16]byte]bool, len(kept))
	for _, s := range kept {
		have[s.ID] = true
	}
	var out []Snapshot
	for _, s := range before {
		if !have[s.ID] {
			out = append(out, s)
		}
	}
	return out
}

// errViewReadOnly: the view of the remote without the damaged deltas is
// only read.
var errViewReadOnly = errors.New("the remote without its damaged deltas is a read-only view")

// withoutDeltas is a remote without the objects hidden (deltas found
// damaged inside): the history as it is once they are moved aside. It
// writes nothing.
type withoutDeltas struct {
	remotes.Remote
	hidden map[string]bool
}

func (w *withoutDeltas) List(ctx context.Context, dir string) ([]remotes.ObjectInfo, error) {
	objs, err := w.Remote.List(ctx, dir)
	if err != nil {
		return nil, err
	}
	out := objs[:0:0]
	for _, o := range objs {
		if !w.hidden[o.Name] {
			out = append(out, o)
		}
	}
	return out, nil
}

func (w *withoutDeltas) Stat(ctx context.Context, name string) (remotes.ObjectInfo, error) {
	if w.hidden[name] {
		return remotes.ObjectInfo{}, fmt.Errorf("%s: damaged, left out: %w", name, remotes.ErrNotFound)
	}
	return w.Remote.Stat(ctx, name)
}

func (w *withoutDeltas) Get(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if w.hidden[name] {
		return nil, fmt.Errorf("%s: damaged, left out: %w", name, remotes.ErrNotFound)
	}
	return w.Remote.Get(ctx, name, off, length)
}

func (w *withoutDeltas) Put(context.Context, string, io.Reader, int64) error { return errViewReadOnly }

func (w *withoutDeltas) Delete(context.Context, string) error { return errViewReadOnly }

func (w *withoutDeltas) CleanupPartial(context.Context, time.Duration) error { return nil }

// dataNames lists p.data's deltas, sorted.
func (p *RepairPlan) dataNames() []string {
	out := make([]string, 0, len(p.data))
	for name := range p.data {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
