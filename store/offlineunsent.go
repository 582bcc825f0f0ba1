package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"go.uber.org/zap"
)

// What this device backed up offline and never uploaded lives only in its
// spool. Another device's history may leave it behind (it took over, and
// its prune may even have compacted away what those deltas continue), but
// nothing drops it unless the user says so (docs/switching-devices.md).

// ErrOfflineUnsent means a takeover would drop snapshots this device
// backed up offline and never uploaded.
var ErrOfflineUnsent = errors.New("snapshots backed up offline were never uploaded")

// offlineUnsent counts the snapshots this device committed offline and
// has not uploaded: those of its spooled deltas at or past OfflineFrom
// (loaded or not: one whose history is gone from the remote does not
// load). A delta whose trailer does not read counts as one snapshot.
func (r *Store) offlineUnsent(ctx context.Context) (snapshots int) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, u := range r.unsentFrom(ctx, r.state.OfflineFrom) {
		snapshots += u.snapshots
	}
	return snapshots
}

// leftBehindLocked counts the snapshots of offlineUnsent's deltas that
// the loaded history leaves out; r.mu held.
func (r *Store) leftBehindLocked(ctx context.Context) (snapshots int) {
	for _, u := range r.unsentFrom(ctx, r.state.OfflineFrom) {
		if r.deltas[u.sp.id] == nil {
			snapshots += u.snapshots
		}
	}
	return snapshots
}

// unsent is a delta this device committed offline, still in its spool.
type unsent struct {
	sp        spoolFile
	snapshots int
}

// unsentFrom lists this device's spooled deltas at or past from (none
// when from is 0). A loaded delta's trailer is the one in memory; the
// spool is read only for those the load left out. Hold r.mu (a read lock
// will do).
func (r *Store) unsentFrom(ctx context.Context, from uint64) []unsent {
	if from == 0 {
		return nil
	}
	var out []unsent
	for _, sp := range r.spooled() {
		if sp.seq < from {
			continue
		}
		d := &delta{ref: deltaRef{ID: sp.id, Seq: sp.seq}, size: sp.size, spoolPath: sp.path}
		t := r.loadedTrailer(sp.id)
		var err error
		if t == nil {
			_, t, err = r.readTrailer(ctx, d)
		}
		switch {
		case err != nil:
			r.log.Warn("reading the trailer of a delta backed up offline", zap.String("delta", d.ref.name()), zap.Error(err))
			out = append(out, unsent{sp: sp, snapshots: 1})
		case t.Device == r.opts.DeviceID:
			out = append(out, unsent{sp: sp, snapshots: len(t.Snapshots)})
		}
	}
	return out
}

// loadedTrailer is the trailer the load holds of delta id (nil: the
// delta is not loaded); r.mu held.
func (r *Store) loadedTrailer(id [16]byte) *trailer {
	if d := r.deltas[id]; d != nil {
		return d.trailer
	}
	return nil
}

// dropOfflineUnsent is Takeover's step over what was backed up offline,
// with r.mu held and the remote's history loaded. Deltas that history
// leaves out (it does not continue them) are dropped only with discard:
// else ErrOfflineUnsent, saying how many snapshots would go. Deltas it
// does continue stay, and so does OfflineFrom: confirmOffline checks
// them before they are uploaded. It returns the snapshots dropped.
func (r *Store) dropOfflineUnsent(ctx context.Context, discard bool) (int, error) {
	from := r.state.OfflineFrom
	var left []unsent
	var snaps int
	loaded := false
	for _, u := range r.unsentFrom(ctx, from) {
		if r.deltas[u.sp.id] != nil {
			loaded = true
			continue
		}
		left = append(left, u)
		snaps += u.snapshots
	}
	if len(left) > 0 && !discard {
		return 0, fmt.Errorf("%w: takeover would drop %s this device backed up offline (%s in its spool, from sequence %d): the remote's history no longer holds what they continue (another device wrote and pruned meanwhile), so they cannot be merged; the next backup after a takeover takes the chats as they are now. To drop them, run %s",
			ErrOfflineUnsent, plural(snaps, "snapshot"), plural(len(left), "delta"), from, r.cmd("takeover --discard-offline"))
	}
	for _, u := range left {
		r.log.Warn("takeover --discard-offline: dropping a delta backed up offline and never uploaded", zap.String("delta", u.sp.name), zap.Int("snapshots", u.snapshots))
		if err := os.Remove(u.sp.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("dropping a delta backed up offline: %w", err)
		}
	}
	if len(left) > 0 {
		r.offlineLeft = 0
	}
	if !loaded {
		r.state.OfflineFrom = 0
	}
	return snaps, nil
}

// plural is n and noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
