package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Forks: two deltas with one sequence number (two devices committed on
// the same head) leave two branches. The store never picks one silently:
// it loads both (their snapshots, their blobs), reports the fork, and
// refuses to write or delete until ResolveFork merges them.

// ErrFork means the repository's history is forked.
var ErrFork = errors.New("the repository history is forked")

// Fork describes a forked history.
type Fork struct {
	Seq      uint64   // the lowest sequence number two deltas share
	Branches []Branch // the branch the store reads as head first
}

// Branch is one side of a fork, named by its newest delta.
type Branch struct {
	Head     string // the newest delta's object name
	DeltaID  [16]byte
	Seq      uint64
	Device   [16]byte
	Hostname string
	Time     time.Time
	// Snapshots are the branch's snapshots from the fork on, oldest first.
	Snapshots []Snapshot
}

// DeltaIDString is the branch head's delta id in hex.
func (b Branch) DeltaIDString() string { return hex.EncodeToString(b.DeltaID[:]) }

// ForkError reports a fork; it wraps ErrFork.
type ForkError struct {
	Fork Fork
	// ConfigFlag is appended to the command it names (Options.ConfigFlag).
	ConfigFlag string
}

func (e *ForkError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: %d branches from sequence %d:", ErrFork, len(e.Fork.Branches), e.Fork.Seq)
	for _, br := range e.Fork.Branches {
		fmt.Fprintf(&b, " [delta %s (seq %d) by %s at %s, %d snapshots]", br.DeltaIDString()[:8], br.Seq, br.Hostname, br.Time.Format(time.RFC3339), len(br.Snapshots))
	}
	fmt.Fprintf(&b, "; two devices wrote at once. Nothing is deleted until you choose: `chatsafe fork resolve --keep <delta id>%s` merges them, keeping every snapshot", e.ConfigFlag)
	return b.String()
}

func (e *ForkError) Unwrap() error { return ErrFork }

// Fork returns the fork, or nil when the history is linear.
func (r *Store) Fork() *Fork {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.fork == nil {
		return nil
	}
	f := *r.fork
	return &f
}

// branch is one side of a fork as loaded: its newest delta, the deltas it
// lists as live and the snapshots it forgot.
type branch struct {
	tip       *delta
	live      map[[16]byte]bool
	forgotten map[[16]byte]bool
}

// openCandidate reads and authenticates a candidate's trailer.
func (r *Store) openCandidate(ctx context.Context, c *candidate) (*delta, error) {
	if k := r.loaded[c.id]; k != nil && k.ref.Seq == c.seq && k.size == c.size {
		// Authenticated by the load a Refresh replaces (walk.go).
		return &delta{ref: k.ref, size: c.size, onRemote: c.onRemote, spoolPath: c.spoolPath, trailer: k.trailer}, nil
	}
	d := &delta{ref: deltaRef{ID: c.id, Seq: c.seq}, size: c.size, onRemote: c.onRemote, spoolPath: c.spoolPath}
	plain, t, err := r.readTrailer(ctx, d)
	if err != nil {
		return nil, err
	}
	d.ref.TrailerHash = trailerHash(plain)
	d.trailer = t
	return d, nil
}

// findTips returns the newest delta of each branch, the head's first.
// Without two deltas of one sequence there is one: the newest. With them,
// every delta from that sequence on is read, and a tip is one that no
// other lists as its parent or as live (a merge lists both branches).
// The order is fixed by sequence, then time, then id: never map order.
func (r *Store) findTips(ctx context.Context, cands map[string]*candidate) ([]*delta, uint64, error) {
	perSeq := map[uint64]int{}
	var forkSeq uint64
	var newest string
	for name, c := range cands {
		perSeq[c.seq]++
		if perSeq[c.seq] > 1 && (forkSeq == 0 || c.seq < forkSeq) {
			forkSeq = c.seq
		}
		if newest == "" || c.seq > cands[newest].seq || (c.seq == cands[newest].seq && name < newest) {
			newest = name
		}
	}
	if forkSeq == 0 {
		d, err := r.openCandidate(ctx, cands[newest])
		return []*delta{d}, 0, err
	}
	var names []string
	for name, c := range cands {
		if c.seq >= forkSeq {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var opened []*delta
	referenced := map[[16]byte]bool{}
	seen := map[uint64]bool{}
	forkSeq = 0
	for _, name := range names {
		d, err := r.openCandidate(ctx, cands[name])
		if errors.Is(err, ErrIntegrity) && cands[name].seq < cands[newest].seq {
			// Not a delta of this repository (or a damaged one): it is in
			// nobody's history unless a branch lists it, and then opening
			// that branch fails on it.
			r.log.Warn("ignoring a delta that cannot be authenticated", zap.String("delta", name), zap.Error(err))
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		if seen[d.ref.Seq] && (forkSeq == 0 || d.ref.Seq < forkSeq) {
			forkSeq = d.ref.Seq
		}
		seen[d.ref.Seq] = true
		opened = append(opened, d)
		referenced[d.trailer.Parent.ID] = true
		for _, l := range d.trailer.Live {
			referenced[l.ID] = true
		}
	}
	if len(opened) == 0 {
		d, err := r.openCandidate(ctx, cands[newest])
		return []*delta{d}, 0, err
	}
	var tips []*delta
	for _, d := range opened {
		if !referenced[d.ref.ID] {
			tips = append(tips, d)
		}
	}
	sort.Slice(tips, func(i, j int) bool {
		a, b := tips[i], tips[j]
		if a.ref.Seq != b.ref.Seq {
			return a.ref.Seq > b.ref.Seq
		}
		if a.trailer.Time != b.trailer.Time {
			return a.trailer.Time > b.trailer.Time
		}
		return string(a.ref.ID[:]) < string(b.ref.ID[:])
	})
	return tips, forkSeq, nil
}

// openBranch adds tip and every delta it lists as live to r.deltas,
// checking each against the trailer hash the tip pins.
func (r *Store) openBranch(ctx context.Context, tip *delta, cands map[string]*candidate, live map[string]bool) (*branch, error) {
	name := tip.ref.name()
	// A repair head skips the damaged sequences: its parent is older.
	if tip.ref.Seq > 1 && tip.trailer.Parent.Seq >= tip.ref.Seq {
		return nil, integrityErr(name, fmt.Sprintf("its parent has sequence %d, not below its own", tip.trailer.Parent.Seq), nil)
	}
	b := &branch{tip: tip, live: map[[16]byte]bool{tip.ref.ID: true}, forgotten: map[[16]byte]bool{}}
	for _, id := range tip.trailer.Forgotten {
		b.forgotten[id] = true
	}
	if prev := r.deltas[tip.ref.ID]; prev == nil {
		r.deltas[tip.ref.ID] = tip
	}
	live[name] = true
	for _, ref := range tip.trailer.Live {
		lname := ref.name()
		b.live[ref.ID] = true
		live[lname] = true
		d := r.deltas[ref.ID]
		if d == nil {
			c := cands[lname]
			if c == nil {
				return nil, integrityErr(lname, fmt.Sprintf("is missing from the remote, but the newest delta (%s) lists it", name), nil)
			}
			var err error
			if d, err = r.openCandidate(ctx, c); err != nil {
				return nil, err
			}
		}
		if d.ref.TrailerHash != ref.TrailerHash {
			return nil, integrityErr(lname, "is not the delta the newest delta lists (replaced or replayed)", nil)
		}
		r.deltas[ref.ID] = d
	}
	return b, nil
}

// noteFork records the branches (nil or one: no fork) and says so in the log.
func (r *Store) noteFork(branches []*branch, forkSeq uint64) {
	if len(branches) < 2 {
		r.forkSaid = ""
		return
	}
	r.branches = branches
	r.fork = &Fork{Seq: forkSeq}
	for _, b := range branches {
		t := b.tip.trailer
		r.fork.Branches = append(r.fork.Branches, Branch{Head: b.tip.ref.name(), DeltaID: b.tip.ref.ID, Seq: b.tip.ref.Seq, Device: t.Device, Hostname: t.Hostname, Time: time.Unix(0, t.Time).UTC()})
	}
	// Once per fork: check re-reads the remote it just opened, and the
	// daemon re-reads it every cycle.
	var said strings.Builder
	for _, b := range r.fork.Branches {
		said.WriteString(b.Head)
	}
	if said.String() == r.forkSaid {
		return
	}
	r.forkSaid = said.String()
	r.log.Warn("the repository history is forked: two devices wrote at once; nothing is deleted until "+r.cmd("fork resolve"),
		zap.Uint64("seq", forkSeq), zap.Int("branches", len(branches)))
}

// branchSnapshots fills each branch's snapshot list (from the fork on)
// after r.snapshots is rebuilt.
func (r *Store) branchSnapshots() {
	for i, b := range r.branches {
		r.fork.Branches[i].Snapshots = nil
		for _, s := range r.snapshots {
			if s.Seq >= r.fork.Seq && b.sees(r, s) {
				r.fork.Branches[i].Snapshots = append(r.fork.Branches[i].Snapshots, s)
			}
		}
	}
}

// sees reports whether snapshot s is one of the branch's: a live delta of
// the branch committed it and the branch did not forget it.
func (b *branch) sees(r *Store, s Snapshot) bool {
	if b.forgotten[s.ID] {
		return false
	}
	for id := range b.live {
		if d := r.deltas[id]; d != nil && d.ref.Seq == s.Seq {
			for _, ds := range d.trailer.Snapshots {
				if ds.ID == s.ID {
					return true
				}
			}
		}
	}
	return false
}

// visible reports whether snapshot s of delta d is listed with a fork:
// if any branch holding d did not forget it.
func (r *Store) visible(d *delta, s Snapshot) bool {
	for _, b := range r.branches {
		if b.live[d.ref.ID] && !b.forgotten[s.ID] {
			return true
		}
	}
	return false
}

// ResolveFork ends a fork by merging: it commits a delta whose parent is
// the kept branch's newest delta and whose live list is every delta of
// every branch, so no snapshot any device committed is lost (the merged
// head forgets only what every branch holding a snapshot forgot); prune
// then applies retention as usual. keep is a prefix of a branch head's
// delta id, or of a snapshot id that only one branch has. The merge waits
// in the spool: Sync uploads it. This device becomes the writer.
func (r *Store) ResolveFork(ctx context.Context, keep string) (Branch, error) {
	if !r.Writable() {
		return Branch{}, errors.New("fork resolve needs a writable state directory")
	}
	r.backupMu.Lock()
	defer r.backupMu.Unlock()
	r.mu.Lock()
	err := r.load(ctx)
	fork, left := r.fork, r.offlineLeft // load counted what it left behind
	r.mu.Unlock()
	if err != nil {
		return Branch{}, err
	}
	if fork == nil {
		if snaps := left; snaps > 0 {
			return Branch{}, fmt.Errorf("the repository history is not forked: %w: %s this device backed up offline continue a history the remote no longer holds (another device wrote and pruned meanwhile), so they cannot be merged onto its head; %s drops them, and the next backup takes the chats as they are now", ErrOfflineUnsent, plural(snaps, "snapshot"), r.cmd("takeover --discard-offline"))
		}
		return Branch{}, errors.New("the repository history is not forked: nothing to resolve")
	}
	if len(r.branches) < 2 {
		return Branch{}, fmt.Errorf("the other branch is missing from the remote (this device's last seen head is gone): nothing to merge; run %s to accept the remote's history", r.cmd("takeover"))
	}
	kept, err := pickBranch(fork, keep)
	if err != nil {
		return Branch{}, err
	}
	r.mu.RLock()
	var tip *delta
	for _, b := range r.branches {
		if b.tip.ref.ID == fork.Branches[kept].DeltaID {
			tip = b.tip
		}
	}
	var top uint64
	for _, b := range r.branches {
		top = max(top, b.tip.ref.Seq)
	}
	live := r.liveRefs()
	visible := map[[16]byte]bool{}
	for _, s := range r.snapshots {
		visible[s.ID] = true
	}
	var forgotten [][16]byte
	for _, d := range r.deltas {
		for _, s := range d.trailer.Snapshots {
			if !visible[s.ID] {
				forgotten = append(forgotten, s.ID)
			}
		}
	}
	r.mu.RUnlock()
	sort.Slice(forgotten, func(i, j int) bool { return string(forgotten[i][:]) < string(forgotten[j][:]) })
	w, err := r.newDeltaWriter(top + 1)
	if err != nil {
		return Branch{}, err
	}
	r.mu.Lock()
	r.head = tip // the commit point moves from the kept branch's head
	r.mu.Unlock()
	d, err := w.finish(tip.ref, live, nil, forgotten, time.Now().UnixNano(), func(d *delta) error { return r.guardAdvance(ctx, d) })
	if err != nil {
		return Branch{}, fmt.Errorf("writing the merge delta: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state.TakenOver = nil
	r.noteWritten(d)
	if err := r.load(ctx); err != nil {
		return Branch{}, err
	}
	if r.fork != nil {
		return Branch{}, fmt.Errorf("the merge delta did not end the fork: %w", &ForkError{Fork: *r.fork, ConfigFlag: r.opts.ConfigFlag})
	}
	// What was backed up offline is a branch the merge keeps, unless no
	// branch held it: that stays marked (kept in the spool, counted by
	// Offline) until takeover --discard-offline drops it.
	if r.offlineLeft == 0 {
		r.state.OfflineFrom = 0
	} else {
		r.log.Warn("the merge leaves behind snapshots backed up offline; they stay in the spool ("+r.cmd("takeover --discard-offline")+" drops them)", zap.Int("snapshots", r.offlineLeft))
	}
	r.log.Info("fork resolved by a merge delta", zap.String("kept", fork.Branches[kept].DeltaIDString()), zap.Uint64("seq", d.ref.Seq))
	return fork.Branches[kept], r.saveState()
}

// pickBranch finds the branch keep names: a prefix of its head's delta id,
// or of a snapshot id only it has.
func pickBranch(f *Fork, keep string) (int, error) {
	keep = strings.ToLower(strings.TrimSpace(keep))
	if keep == "" {
		return 0, errors.New("name the branch to keep: a prefix of its delta id or of one of its snapshots' ids (see `chatsafe check` or `chatsafe snapshots`)")
	}
	found := map[int]bool{}
	for i, b := range f.Branches {
		if strings.HasPrefix(b.DeltaIDString(), keep) {
			found[i] = true
		}
		for _, s := range b.Snapshots {
			if strings.HasPrefix(s.IDString(), keep) {
				found[i] = true
			}
		}
	}
	if len(found) != 1 {
		return 0, fmt.Errorf("%q names %d branches, want 1: give a prefix of one branch's delta id, or of a snapshot only that branch has", keep, len(found))
	}
	for i := range found {
		return i, nil
	}
	return 0, nil
}

// descends checks that head descends from the head this device last saw:
// following parents through the live deltas, the delta of the seen
// sequence must be the one seen (or the seen one must still be live, as a
// merge keeps it). A chain cut by compaction gives no verdict. When it
// does not descend, the seen delta is gone from the remote: that is
// recorded as a fork whose other branch is missing, so this device writes
// and prunes nothing until `takeover` accepts the remote's history.
func (r *Store) descends(head *delta) {
	if r.fork != nil || r.state.SeenID == "" || r.state.SeenSeq > head.ref.Seq {
		return
	}
	var seen [16]byte
	if _, err := hex.Decode(seen[:], []byte(r.state.SeenID)); err != nil || r.deltas[seen] != nil {
		return
	}
	d := head
	for d != nil && d.ref.Seq > r.state.SeenSeq {
		d = r.deltas[d.trailer.Parent.ID]
	}
	if d == nil || d.ref.Seq != r.state.SeenSeq || d.ref.ID == seen {
		return
	}
	t := head.trailer
	r.fork = &Fork{Seq: r.state.SeenSeq, Branches: []Branch{
		{Head: head.ref.name(), DeltaID: head.ref.ID, Seq: head.ref.Seq, Device: t.Device, Hostname: t.Hostname, Time: time.Unix(0, t.Time).UTC()},
		{Head: deltaName(r.state.SeenSeq, seen), DeltaID: seen, Seq: r.state.SeenSeq, Device: r.opts.DeviceID, Hostname: "(this device's last seen head, missing from the remote)"},
	}}
	r.log.Error("the remote's history does not descend from the head this device last saw: that delta is gone from the remote; nothing is written or pruned here until "+r.cmd("takeover")+" accepts the remote's history",
		zap.String("seen", r.state.SeenID), zap.Uint64("seq", r.state.SeenSeq), zap.String("remote_head", head.ref.name()))
}
