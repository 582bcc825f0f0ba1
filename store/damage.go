package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/remotes"
)

// Damage is contained: with Options.Partial a store whose newest delta is
// missing, damaged, or pins a delta that is, falls back to the newest head
// it can fully verify (its chain and every delta it pins), lists that
// history, and says what it skipped. It commits nothing on such a head
// until Repair writes a new one.

// ErrPartial means a command's result is partial: some of the repository
// is damaged and only its intact history was read.
var ErrPartial = errors.New("partial: some of the repository is damaged")

// Damage names one object the store could not use, and why.
type Damage struct {
	Object string // e.g. "deltas/0000000000000003-9f…"
	Reason string
	// Skipped is the head that was passed over because of it ("" when the
	// object is a head this device saw that the remote no longer serves).
	Skipped string
}

func (d Damage) String() string {
	s := d.Object + ": " + d.Reason
	if d.Skipped != "" && d.Skipped != d.Object {
		s += " (so the head " + d.Skipped + " that pins it is skipped)"
	}
	return s
}

// DamageError reports a damaged repository: the history read is the
// newest intact one (HeadSeq). It wraps ErrIntegrity, and ErrRollback when
// this device saw a newer head than the remote serves.
type DamageError struct {
	Damage   []Damage
	HeadSeq  uint64
	Rollback bool
	// ConfigFlag is appended to the commands it names (Options.ConfigFlag).
	ConfigFlag string
}

func (e *DamageError) Error() string {
	var parts []string
	for _, d := range e.Damage {
		parts = append(parts, d.String())
	}
	return fmt.Sprintf("the repository is damaged: %s; only the intact history up to sequence %d is read, and nothing is committed on it (run `chatsafe repair --dry-run%s` to see how to make it writable again, then `chatsafe repair%s`)",
		strings.Join(parts, "; "), e.HeadSeq, e.ConfigFlag, e.ConfigFlag)
}

func (e *DamageError) Unwrap() []error {
	if e.Rollback {
		return []error{ErrIntegrity, ErrRollback}
	}
	return []error{ErrIntegrity}
}

// PartialError is what a command that listed or restored intact snapshots
// of a damaged repository returns: the result is usable but partial.
type PartialError struct{ Damage *DamageError }

func (e *PartialError) Error() string {
	return "partial result: " + e.Damage.Error()
}

func (e *PartialError) Unwrap() error { return ErrPartial }

// Damage reports what the store skipped (nil: the repository is intact).
func (r *Store) Damage() *DamageError {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.damageErr()
}

func (r *Store) damageErr() *DamageError {
	if len(r.damage) == 0 && r.guardRollback == nil {
		return nil
	}
	e := &DamageError{Damage: append([]Damage(nil), r.damage...), Rollback: r.rollback || r.guardRollback != nil, ConfigFlag: r.opts.ConfigFlag}
	if r.guardRollback != nil {
		e.Damage = append(e.Damage, *r.guardRollback)
	}
	if r.head != nil {
		e.HeadSeq = r.head.ref.Seq
	}
	return e
}

// newestCandidate names the candidate with the highest sequence (the
// lowest name among equals).
func newestCandidate(cands map[string]*candidate) string {
	var newest string
	for name, c := range cands {
		if newest == "" || c.seq > cands[newest].seq || (c.seq == cands[newest].seq && name < newest) {
			newest = name
		}
	}
	return newest
}

// damageOf describes err, which made the head skipped unusable.
func damageOf(err error, skipped string) Damage {
	var ie *IntegrityError
	if errors.As(err, &ie) {
		reason := ie.Reason
		if ie.Err != nil {
			reason += ": " + ie.Err.Error()
		}
		return Damage{Object: ie.Object, Reason: reason, Skipped: skipped}
	}
	return Damage{Object: skipped, Reason: err.Error(), Skipped: skipped}
}

// noteRollback records that the remote serves an older head than this
// device saw: reading goes on, committing does not.
func (r *Store) noteRollback(head *delta) {
	obj := fmt.Sprintf("%s/ sequence %d", deltaDir, r.state.SeenSeq)
	if r.state.SeenID != "" {
		var id [16]byte
		if _, err := hex.Decode(id[:], []byte(r.state.SeenID)); err == nil {
			obj = deltaName(r.state.SeenSeq, id)
		}
	}
	r.rollback = true
	r.damage = append(r.damage, Damage{Object: obj, Reason: fmt.Sprintf("this device saw it, but the remote serves sequence %d as its newest intact head: it was deleted or damaged, or an old copy of the repository was put back (a rollback)", head.ref.Seq)})
	r.log.Error("the remote serves an older head than this device saw; older snapshots stay readable, nothing is committed until "+r.cmd("repair"),
		zap.Uint64("seen_seq", r.state.SeenSeq), zap.Uint64("remote_seq", head.ref.Seq))
}

// headGone checks, before a commit, that the deltas this store loaded are
// still on the remote and that the head's trailer there still opens and
// is the one loaded: a delta deleted or altered while the daemon ran is
// caught here, not by the next device. Called with backupMu held.
func (r *Store) headGone(ctx context.Context, listed map[string]bool) error {
	return r.verifyRemote(ctx, listed, true)
}

// verifyRemote is headGone; dropCache false leaves the local trailer
// cache alone (a dry run changes nothing), the next load in this process
// still reading the remote's copy.
func (r *Store) verifyRemote(ctx context.Context, listed map[string]bool, dropCache bool) error {
	r.mu.RLock()
	var unlisted []string
	stillListed := 0
	for _, d := range r.deltas {
		if d.onRemote && d.spoolPath == "" {
			if !listed[d.ref.name()] {
				unlisted = append(unlisted, d.ref.name())
			} else {
				stillListed++
			}
		}
	}
	r.mu.RUnlock()
	if len(unlisted) > 0 && stillListed == 0 {
		// Not one delta listed: with the config gone too, that is the
		// folder gone (a drive not mounted), not damage to repair. Asked
		// first, it spares asking for every delta in turn.
		if err := stillHoldsFirst(ctx, r.remote, r.ownName()); err != nil {
			return err
		}
	}
	gone, err := r.confirmGone(ctx, unlisted, listed)
	if err != nil {
		return err
	}
	r.mu.RLock()
	head := r.head
	var probe *delta
	if head != nil && head.onRemote && head.spoolPath == "" && listed[head.ref.name()] {
		cp := *head
		probe = &cp
	}
	r.mu.RUnlock()
	var found []Damage
	for _, name := range gone {
		found = append(found, Damage{Object: name, Reason: "is missing from the remote (it was there when this device loaded or wrote it)"})
	}
	if probe != nil {
		plain, _, err := r.readTrailerUncached(ctx, probe)
		if err != nil && !errors.Is(err, ErrIntegrity) {
			return fmt.Errorf("checking the head before committing: %w", err)
		}
		if err != nil {
			found = append(found, damageOf(err, ""))
		} else if trailerHash(plain) != probe.ref.TrailerHash {
			found = append(found, Damage{Object: probe.ref.name(), Reason: "its trailer on the remote is not the one this device loaded (replaced)"})
		}
		if len(found) > 0 {
			// The next load must see the remote's copy, not the cache.
			r.mu.Lock()
			if r.distrust == nil {
				r.distrust = map[string]bool{}
			}
			r.distrust[probe.ref.name()] = true
			r.mu.Unlock()
			if dropCache {
				os.Remove(r.trailerCachePath(probe))
			}
		}
	}
	if len(found) == 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.damage = append(r.damage, found...)
	derr := r.damageErr()
	r.log.Error("the head cannot be verified on the remote; nothing is committed until "+r.cmd("repair"), zap.Error(derr))
	return derr
}

// confirmGone asks the remote for each delta its listing left out: a
// listing is no proof of absence (a WebDAV server leaves out an entry it
// fails to stat, some object stores list new objects late), and calling
// the repository damaged stops every backup until `chatsafe repair`. The
// ones found are added to listed; those the remote says are not there are
// returned. Any other failure fails the check, recording nothing.
func (r *Store) confirmGone(ctx context.Context, unlisted []string, listed map[string]bool) ([]string, error) {
	var gone []string
	for _, name := range unlisted {
		_, err := r.remote.Stat(ctx, name)
		switch {
		case err == nil:
			r.log.Warn("the remote's listing left out a delta it holds; it is not taken as missing", zap.String("delta", name))
			listed[name] = true
		case errors.Is(err, remotes.ErrNotFound):
			gone = append(gone, name)
		default:
			return nil, fmt.Errorf("checking the head before committing: %s is not listed and asking %s for it failed (try again when the remote is reachable): %w", name, r.remote, err)
		}
	}
	return gone, nil
}

// NoteRollback records that the commit point (the vault) has a newer head
// than the remote serves (err says which): the history stays readable
// with the warning, and nothing is committed. It outlives reloads: only
// the commit point knows it.
func (r *Store) NoteRollback(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.guardRollback = &Damage{Object: "the remote's newest delta", Reason: err.Error()}
	r.log.Error("the commit point records a newer head than the remote serves; older snapshots stay readable, nothing is committed", zap.Error(err))
}
