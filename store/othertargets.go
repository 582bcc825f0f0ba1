package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/remotes"
)

// A device reads and lists its first remote only, but uploads every delta
// to every remote. A device that joined on another of them commits there
// alone; the next upload of this device would then put a second delta of
// one sequence there: a fork. So before a commit the other remotes are
// listed too.

// otherListTimeout bounds the check of a remote other than the first
// before a commit or an upload to it: its listing and the read of the
// trailer of a delta it lists that this device does not know, together.
// One that is down, or that lists but never answers a read, must not
// hold up every backup (its uploads wait and retry as before). A var for
// tests.
var otherListTimeout = 30 * time.Second

// otherCommitCheckTimeout bounds the same check before a commit, shorter
// than otherListTimeout: a commit waits for it, and a remote down or out
// of reach (refused connections retried with backoff, a NAS away from
// home) would otherwise hold every commit for the whole of
// otherListTimeout. The remotes are checked at once, side by side, so
// the wait is one bound, not one per remote. A remote not checked in
// time is safe to skip: checkTargetBeforeUpload lists it again, with
// otherListTimeout, before anything is uploaded there.
const otherCommitCheckTimeout = 5 * time.Second

// otherListBackoff: a remote other than the first that could not be
// checked before a commit (listed, or a trailer it lists read) is not
// checked again before commits for this long, so that one out of reach (a
// NAS away from home) costs one otherListTimeout every few minutes, not
// one a commit. Its uploads still list it
// first (checkTargetBeforeUpload), so no fork lands there meanwhile.
const otherListBackoff = 5 * time.Minute

// newestUnknown is the newest delta among objs at or past baseSeq that
// this store did not load or write (nil: none).
func (r *Store) newestUnknown(objs []remotes.ObjectInfo, baseSeq uint64) *candidate {
	var newest *candidate
	for _, o := range objs {
		seq, id, ok := parseDeltaName(o.Name)
		if !ok || seq < baseSeq {
			continue
		}
		r.mu.RLock()
		_, known := r.deltas[id]
		r.mu.RUnlock()
		if known {
			continue
		}
		if newest == nil || seq > newest.seq || (seq == newest.seq && string(id[:]) < string(newest.id[:])) {
			newest = &candidate{seq: seq, id: id, size: o.Size, onRemote: true}
		}
	}
	return newest
}

// othersOnTargets finds, on the sync targets other than the store's own
// remote, a delta at or past baseSeq that another device committed there
// (see otherDeviceDelta). It returns that delta and what to tell the user,
// or nil. The targets are checked side by side; one that cannot be
// checked now (listed, or the trailer it lists read, within
// otherCommitCheckTimeout) is skipped with a warning and left alone for
// otherListBackoff.
func (r *Store) othersOnTargets(ctx context.Context, baseSeq uint64) (*delta, string) {
	type found struct {
		d   *delta
		err error
	}
	var ts []*Target
	for _, t := range r.Targets() {
		if t.Remote != nil && t.Remote != r.remote && !t.inListBackoff(time.Now()) {
			ts = append(ts, t)
		}
	}
	res := make([]found, len(ts))
	var wg sync.WaitGroup
	for i, t := range ts {
		wg.Go(func() {
			d, err := r.checkOther(ctx, t, baseSeq, min(otherListTimeout, otherCommitCheckTimeout))
			res[i] = found{d, err}
		})
	}
	wg.Wait() // each check is bounded by its timeout
	for i, t := range ts {
		if err := res[i].err; err != nil {
			t.noteListFailed(time.Now())
			r.log.Warn("could not check a remote before committing; another device writing there goes unnoticed until it can be (tried again in a few minutes, and before each upload to it)", zap.String("remote", t.Name), zap.Duration("retry_after", otherListBackoff), zap.Error(err))
			continue
		}
		t.noteListFailed(time.Time{})
	}
	for i, t := range ts {
		if d := res[i].d; d != nil {
			return d, r.elsewhereNote(d, t)
		}
	}
	return nil, ""
}

// checkOther lists t and reads the trailer otherDeviceDelta needs, both
// within timeout.
func (r *Store) checkOther(ctx context.Context, t *Target, baseSeq uint64, timeout time.Duration) (*delta, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	objs, err := t.Remote.List(ctx, deltaDir)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", t.Name, err)
	}
	return r.otherDeviceDelta(ctx, t, objs, baseSeq)
}

// otherDeviceDelta is the newest delta among objs (t's listing) at or past
// baseSeq that this store did not load or write, when its trailer opens
// with the key and names another device (this device's own leftovers, a
// delete that failed there, are no one else's commit). nil: none. The
// error is that trailer's read or authentication failing.
func (r *Store) otherDeviceDelta(ctx context.Context, t *Target, objs []remotes.ObjectInfo, baseSeq uint64) (*delta, error) {
	c := r.newestUnknown(objs, baseSeq)
	if c == nil {
		return nil, nil
	}
	d := &delta{ref: deltaRef{ID: c.id, Seq: c.seq}, size: c.size, onRemote: true}
	var err error
	if d.trailer, err = r.trailerOn(ctx, t.Remote, d); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w (%w)", err, cerr)
		}
		return nil, fmt.Errorf("reading the trailer of %s, a delta this device did not write, on %s: %w", d.ref.name(), t.Name, err)
	}
	if d.trailer.Device == r.opts.DeviceID {
		return nil, nil
	}
	return d, nil
}

func (r *Store) elsewhereNote(d *delta, t *Target) string {
	return fmt.Sprintf("its delta %s is on remote %q, which this device does not read (it reads its first remote, %q, only); to write from this device again, make that device's deltas reach %q (add it to that device's remotes), then run %s", d.ref.name(), t.Name, r.remote.String(), r.remote.String(), r.cmd("takeover"))
}

// checkTargetBeforeUpload runs before deltas go to t, a remote other than
// the store's own: a delta another device committed there, at or past the
// first delta of this device's own that t lacks, came after this device's
// check before that commit (or t could not be listed then). Uploading
// would fork t, so this device records the take-over and uploads nothing
// there. It lists t afresh, and what t holds is learnt from that listing.
//
// Only this device's own deltas count: a delta of another device older
// than those is history this device continued (a copy prune deleted, put
// back, or one of that device's writes before this one's), however many
// older deltas t says it lacks, and t decides what it lists.
func (r *Store) checkTargetBeforeUpload(ctx context.Context, t *Target, live []DeltaInfo) error {
	from, ok := r.firstOwnLacking(t, live)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, otherListTimeout)
	defer cancel()
	objs, err := t.Remote.List(ctx, deltaDir)
	if err != nil {
		return fmt.Errorf("listing %s: %w", t.Name, err)
	}
	t.learn(objs)
	if len(objs) == 0 {
		if err := stillHolds(ctx, t.Remote, t.Name); err != nil {
			return err
		}
	}
	d, err := r.otherDeviceDelta(ctx, t, objs, from)
	if err != nil && notACommit(err) && ctx.Err() == nil {
		r.log.Warn("a delta this device did not write, on a remote it does not read first, does not authenticate or is shorter than listed; it is ignored", zap.String("remote", t.Name), zap.Error(err))
		return nil
	}
	if err != nil && errors.Is(err, remotes.ErrNotFound) && ctx.Err() == nil {
		return goneSinceListed(t.Name, err)
	}
	if err != nil {
		// Nothing is uploaded there unchecked: this round's upload to t
		// waits for the next sync.
		return fmt.Errorf("checking %s before uploading to it (nothing is uploaded there until it can be checked; tried again at the next sync): %w", t.Name, err)
	}
	if d == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if to := r.state.TakenOver; to != nil {
		return to.err(r.opts.ConfigFlag)
	}
	return r.markTakenOver(d, r.elsewhereNote(d, t))
}

// notACommit says whether err, otherDeviceDelta's, shows that the delta it
// read is no device's commit: read whole, its trailer does not
// authenticate, or the remote holds it shorter than it lists it. A read
// cut off (a dropped connection: the object, asked its size, is whole), a
// delta that went missing while it was read, or a remote out of reach
// shows nothing either way.
func notACommit(err error) bool {
	return errors.Is(err, ErrIntegrity) && !errors.Is(err, remotes.ErrUnreachable) && !errors.Is(err, remotes.ErrNotFound)
}

// goneSinceListed is checkTargetBeforeUpload's error when the delta it
// read on remote name went away after the listing, before or while its
// trailer was read (another device's prune compacting it): nothing is
// damaged, and nothing is known yet. Like a cut read, it is the remote to
// retry at the next sync, not the integrity failure the read reports
// (shortRead), which would send the user to `chatsafe check`.
func goneSinceListed(name string, err error) error {
	var ie *IntegrityError
	if errors.As(err, &ie) && ie.Err != nil {
		err = ie.Err
	}
	return fmt.Errorf("checking %s before uploading to it: a delta this device did not write went away after it was listed (nothing is uploaded there until it can be checked; tried again at the next sync): %w: %w", name, remotes.ErrUnreachable, err)
}

// firstOwnLacking is the sequence of the first delta in live that this
// device wrote and t is not known to hold (false: none). A delta whose
// trailer is not loaded counts as this device's.
func (r *Store) firstOwnLacking(t *Target, live []DeltaInfo) (uint64, bool) {
	for _, di := range live {
		if t.Holds(di.Name) {
			continue
		}
		_, id, ok := parseDeltaName(di.Name)
		if !ok {
			continue
		}
		r.mu.RLock()
		d := r.deltas[id]
		others := d != nil && d.trailer != nil && d.trailer.Device != r.opts.DeviceID
		r.mu.RUnlock()
		if !others {
			return di.Seq, true
		}
	}
	return 0, false
}

// trailerOn reads and authenticates d's trailer from rem, a remote other
// than the store's own (never through the trailer cache). A read that ends
// early is damage only when rem holds d shorter than listed (shortRead):
// a dropped connection is rem out of reach.
func (r *Store) trailerOn(ctx context.Context, rem remotes.Remote, d *delta) (*trailer, error) {
	name := d.ref.name()
	if d.size > maxDeltaSize {
		return nil, integrityErr(name, fmt.Sprintf("is listed with %d bytes, more than the format's limit of %d", d.size, int64(maxDeltaSize)), nil)
	}
	sealed, err := sealedTrailerFrom(name, d.size, func(off, n int64) ([]byte, error) { return getAll(ctx, rem, name, off, n) })
	if err != nil {
		return nil, err
	}
	_, t, err := r.verifyTrailer(d, sealed)
	return t, err
}

// inListBackoff reports whether t's last listing before a commit failed
// less than otherListBackoff before now.
func (t *Target) inListBackoff(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.listFailed.IsZero() && now.Sub(t.listFailed) < otherListBackoff
}

// noteListFailed records when a listing before a commit failed (zero: it
// succeeded).
func (t *Target) noteListFailed(at time.Time) {
	t.mu.Lock()
	t.listFailed = at
	t.mu.Unlock()
}
