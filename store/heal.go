package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/remotes"
)

// Copying back what the store's remote lost. Every delta goes to every
// remote, so a delta the remote lost or holds damaged is often intact on
// another. FindCopies looks there: it opens each other remote's history
// on its own, downloads the delta from it into a local file and verifies
// that file with the key against that history (the trailer, the pin the
// history holds for it, every blob and the padding) before anything uses
// it; then it reads the store's history again with the verified copies
// standing in for what is missing (withCopies), which says what a repair
// that copies them back still has to cut. Nothing is written to any
// remote: Repair uploads the verified files (copyBack).

// DeltaCopy is a delta the store's remote lost, or holds damaged, that
// another remote holds intact.
type DeltaCopy struct {
	Name string // deltas/<seq>-<id>
	From string // the remote holding it (its target's name)
	// Replaces: the store's remote holds a damaged object of that name,
	// which a repair moves to damaged/ before the copy takes its place.
	Replaces bool
	Size     int64
	seq      uint64
	path     string // the verified copy, a local file
}

// Copies is what FindCopies found.
type Copies struct {
	// Found are the copies the history needs, oldest first.
	Found []DeltaCopy
	// Lost are the deltas the remote lost or holds damaged that no remote
	// asked holds intact.
	Lost []string
	// Rejected are copies on other remotes that failed verification:
	// never used.
	Rejected []error
	// Unasked are the remotes that could not be asked (out of reach, or
	// not opened): one of them may hold what Lost names.
	Unasked []error
	// after is the history read with Found standing in (nil: none found).
	after *Store
	// view is the history read without the deltas found damaged inside
	// (FindCopiesOf; nil: none), which after reads on.
	view *Store
}

// Close removes the local copies.
func (c *Copies) Close() {
	if c.after != nil {
		c.after.Close()
		c.after = nil
	}
	if c.view != nil {
		c.view.Close()
		c.view = nil
	}
	for _, f := range c.Found {
		os.Remove(f.path)
	}
}

// After is the damage that would be left once Found is copied back (nil:
// the history is whole then).
func (c *Copies) After() *DamageError {
	switch {
	case c.after != nil:
		return c.after.Damage()
	case c.view != nil:
		return c.view.Damage()
	}
	return nil
}

// FindCopies looks on the remotes of from other than the store's own for
// intact copies of the deltas its damage names as missing or damaged on
// its remote, verifies each in a file under dir (which must exist), and
// reads the history again with them, as long as that names more: the
// deltas past a copy may lack others. It writes to no remote. Close
// removes the files.
func (r *Store) FindCopies(ctx context.Context, from []*Target, dir string) (*Copies, error) {
	c := &Copies{}
	src := &copySources{r: r, targets: from, dir: dir, opened: map[*Target]*Store{}, skip: map[*Target]bool{}}
	defer src.close()
	found := map[string]DeltaCopy{}
	tried := map[string]bool{}
	for view := r; ; view = c.after {
		lost, err := view.lostDeltas(ctx)
		if err != nil {
			c.Close()
			return nil, err
		}
		added := false
		for _, l := range lost {
			if tried[l.name] {
				continue
			}
			tried[l.name] = true
			dc, err := src.find(ctx, l, c)
			if err != nil {
				c.Close()
				return nil, err
			}
			if dc == nil {
				c.Lost = append(c.Lost, l.name)
				continue
			}
			found[l.name] = *dc
			c.Found = append(c.Found, *dc)
			added = true
		}
		if !added {
			break
		}
		if err := c.readWith(ctx, r, found); err != nil {
			c.Close()
			return nil, err
		}
		if c.after.Damage() == nil {
			break
		}
	}
	if err := c.dropUnused(ctx, r, found); err != nil {
		c.Close()
		return nil, err
	}
	sort.Slice(c.Found, func(i, j int) bool { return c.Found[i].seq < c.Found[j].seq })
	return c, nil
}

// dropUnused lets go of the copies the history read with them does not
// hold (beyond damage that no copy mends): copying them back would change
// nothing a reader sees, and a repair moves them aside with the rest.
func (c *Copies) dropUnused(ctx context.Context, r *Store, found map[string]DeltaCopy) error {
	if c.after == nil {
		return nil
	}
	kept := c.Found[:0]
	for _, dc := range c.Found {
		if c.after.liveDelta(dc.Name) != nil {
			kept = append(kept, dc)
			continue
		}
		os.Remove(dc.path)
		delete(found, dc.Name)
	}
	if len(kept) == len(c.Found) {
		return nil
	}
	c.Found = kept
	return c.readWith(ctx, r, found)
}

// readWith reads r's history as it will be with found copied back: a
// read-only store over r's remote with found standing in, with r's state
// directory (its spool, what it saw) and options otherwise.
func (c *Copies) readWith(ctx context.Context, r *Store, found map[string]DeltaCopy) error {
	if c.after != nil {
		c.after.Close()
		c.after = nil
	}
	if len(found) == 0 {
		return nil
	}
	after, err := Open(ctx, &withCopies{Remote: r.remote, copies: found}, r.key, r.readOnlyOpts())
	if err != nil {
		return fmt.Errorf("reading the history with the copies found on other remotes: %w", err)
	}
	c.after = after
	return nil
}

// readOnlyOpts are r's options for a read-only store over a view of its
// remote: its state directory (its spool, what it saw) and options, but
// nothing that writes, locks or reports.
func (r *Store) readOnlyOpts() Options {
	opts := r.opts
	opts.ReadOnly, opts.Partial = true, true
	opts.CommitGuard, opts.StateLock, opts.Progress, opts.fromState = nil, nil, nil, nil
	opts.Log = zap.NewNop() // the damage it finds is said once, by the caller
	return opts
}

// lostDelta is a delta the store's damage names that its remote lacks or
// holds damaged.
type lostDelta struct {
	name string
	held bool      // the remote holds an object of that name
	hash *[32]byte // that object's trailer hash, when its trailer opens
}

// lostDeltas lists, oldest first, the deltas the store's damage names
// that its history does not hold and its remote does not hold intact:
// missing there, or there but its trailer does not open, or it opens but
// is not the delta a head pins. A head that opens and is passed over only
// for what it pins (a rollback names the one this device saw) is not
// lost: a copy of what it pins mends it.
func (r *Store) lostDeltas(ctx context.Context) ([]lostDelta, error) {
	r.mu.RLock()
	damage := append([]Damage(nil), r.damage...)
	r.mu.RUnlock()
	pinnedBad := map[string]bool{}
	for _, dmg := range damage {
		if dmg.Skipped != "" && dmg.Skipped != dmg.Object {
			pinnedBad[dmg.Object] = true
		}
	}
	seen := map[string]bool{}
	var out []lostDelta
	for _, dmg := range damage {
		name := dmg.Object
		if _, _, ok := parseDeltaName(name); !ok || seen[name] || r.liveDelta(name) != nil {
			continue
		}
		seen[name] = true
		l, err := r.heldHere(ctx, name)
		if err != nil {
			return nil, err
		}
		if l.hash != nil && !pinnedBad[name] {
			continue
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// heldHere says whether the store's remote holds the delta name, and its
// trailer hash when that trailer opens.
func (r *Store) heldHere(ctx context.Context, name string) (lostDelta, error) {
	l := lostDelta{name: name}
	seq, id, _ := parseDeltaName(name)
	info, err := r.remote.Stat(ctx, name)
	switch {
	case errors.Is(err, remotes.ErrNotFound):
		return l, nil
	case err != nil:
		return l, fmt.Errorf("asking %s for %s: %w", r.remote, name, err)
	}
	l.held = true
	plain, _, err := r.readTrailerUncached(ctx, &delta{ref: deltaRef{ID: id, Seq: seq}, size: info.Size, onRemote: true})
	switch {
	case err == nil:
		h := trailerHash(plain)
		l.hash = &h
	case !errors.Is(err, ErrIntegrity):
		return l, err
	}
	return l, nil
}

// liveDelta is the live delta name, opened (nil: none).
func (r *Store) liveDelta(name string) *delta {
	seq, id, ok := parseDeltaName(name)
	if !ok {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if d := r.deltas[id]; d != nil && d.ref.Seq == seq && d.trailer != nil {
		return d
	}
	return nil
}
