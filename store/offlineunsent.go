package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"go.uber.org/zap"
)

// What this device backed up offline and never uploaded lives only in its
// spool. Another device's history may leave it behind (it took over, and
// its prune may even have compacted away what those deltas continue), but
// nothing drops it unless the user says so (docs/switching-devices.md).

// ErrOfflineUnsent means a takeover would drop snapshots this device
// backed up offline and never uploaded.
var ErrOfflineUnsent = errors.New("snapshots backed up offline were never uploaded")

// offlineUnsent counts what this device committed offline and has not
// uploaded: its spooled deltas at or past OfflineFrom, loaded or not (one
// whose history is gone from the remote does not load), and the snapshots
// they carry. A delta whose trailer does not read counts as one snapshot.
func (r *Store) offlineUnsent(ctx context.Context) (deltas, snapshots int) {
	r.mu.RLock()
	from := r.state.OfflineFrom
	r.mu.RUnlock()
	if from == 0 {
		return 0, 0
	}
	for _, sp := range r.spooled() {
		if sp.seq < from {
			continue
		}
		seq, id, _ := parseDeltaName(deltaDir + "/" + filepath.Base(sp.path))
		d := &delta{ref: deltaRef{ID: id, Seq: seq}, size: sp.size, spoolPath: sp.path}
		_, t, err := r.readTrailer(ctx, d)
		switch {
		case err != nil:
			r.log.Warn("reading the trailer of a delta backed up offline", zap.String("delta", d.ref.name()), zap.Error(err))
			deltas++
			snapshots++
		case t.Device == r.opts.DeviceID:
			deltas++
			snapshots += len(t.Snapshots)
		}
	}
	return deltas, snapshots
}

// plural is n and noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
