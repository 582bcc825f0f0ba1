package daemon

import (
	"net/http"
	"sync"
	"time"

	"github.com/chatsafe/chatsafe/faults"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/store"
)

// state derives the daemon's state from what is really happening.
func (d *Daemon) state() string { return d.stateWith(d.offlineBackups) }

// stateWith is state, asking offlineBackups (only when it matters)
// whether the open store backs up without its first remote.
func (d *Daemon) stateWith(offlineBackups func() bool) string {
	d.mu.Lock()
	scanning, pruning, lastErr, ups, offline := d.scanning, d.pruning, d.lastErr, d.uploaders, d.offline
	d.mu.Unlock()
	if !d.isReady() && offline != nil {
		return statusapi.StateOffline
	}
	if d.isReady() && d.store.TakenOver() != nil {
		return statusapi.StateTakenOver
	}
	if d.isReady() && d.store.Fork() != nil {
		return statusapi.StateForked
	}
	if d.isReady() && d.store.Damage() != nil {
		return statusapi.StateDamaged
	}
	if scanning {
		return statusapi.StateScanning
	}
	if d.isReady() && offlineBackups() {
		return statusapi.StateOffline
	}
	if d.isPaused() {
		return statusapi.StatePaused
	}
	if pruning {
		// A prune uploads compacted deltas and deletes obsolete ones:
		// the remotes are changing, which is what "uploading" tells.
		return statusapi.StateUploading
	}
	failing := lastErr != ""
	for _, u := range ups {
		u.mu.Lock()
		up, e := u.uploading, u.lastErr
		u.mu.Unlock()
		if up {
			return statusapi.StateUploading
		}
		failing = failing || e != ""
	}
	if failing {
		return statusapi.StateError
	}
	return statusapi.StateIdle
}

// offlineBackups reports whether the open store backs up without its first
// remote (from the state, or past a listing that failed).
func (d *Daemon) offlineBackups() bool {
	_, ok := d.store.Offline()
	return ok
}

// noteState publishes a state event when the state changed.
func (d *Daemon) noteState() { d.publishState(false) }

// publishState publishes a state event when the state changed, or always:
// when the status changed in a way the state does not show (a remote's
// first listing found it holds what was counted as queued for it, with
// nothing uploaded), subscribers waiting on the status must hear of it.
func (d *Daemon) publishState(always bool) {
	// One caller at a time computes, compares and publishes: two callers
	// computing the state concurrently could otherwise record a stale one
	// last and never publish the final one (a waiter then waits for ever).
	d.noteMu.Lock()
	defer d.noteMu.Unlock()
	s := d.state()
	d.mu.Lock()
	changed := s != d.lastState
	d.lastState = s
	d.mu.Unlock()
	if changed || always {
		d.events.publish(statusapi.Event{Type: statusapi.EventState, State: s})
	}
}

// Status implements statusapi.Backend.
func (d *Daemon) Status() statusapi.Status {
	cfg := d.config()
	// The state and the status's offline section ask the store once.
	offline := sync.OnceValues(func() (store.OfflineStatus, bool) { return d.store.Offline() })
	st := statusapi.Status{
		State:   d.stateWith(func() bool { _, ok := offline(); return ok }),
		Source:  cfg.Source,
		UptimeS: int64(time.Since(d.started).Seconds()),
		Version: d.opts.Version,
		PID:     pid,
		Remotes: []statusapi.RemoteStatus{},
		Config:  cfg.Path,
	}
	if !d.isReady() {
		d.offlineStatus(&st, cfg)
		return st
	}
	st.KeySource = d.keySource // set with the store, before ready
	d.mu.Lock()
	st.LastError = d.lastErr
	ups := d.uploaders
	d.mu.Unlock()
	st.RepositoryID = d.store.ID()
	if last, ok := d.store.LatestSnapshot(); ok {
		s := toAPISnapshot(last)
		st.LastSnapshot = &s
	}
	st.PendingDeltas = len(d.store.Pending())
	st.TakenOver, st.Fork = apiTakenOver(d.store.TakenOver()), apiFork(d.store.Fork())
	st.Damage = apiDamage(d.store.Damage())
	if off, ok := offline(); ok {
		st.Offline = &statusapi.Offline{Snapshots: off.Snapshots, FromState: off.FromState}
	}
	if p := d.LastPrune(); !p.Time.IsZero() {
		st.LastPrune = &statusapi.Prune{Time: p.Time, TookS: p.Took.Seconds(), Error: p.Err, Forgotten: p.Forgotten,
			Rewritten: p.Rewritten, Written: p.Written, Deleted: p.Deleted, UploadedBytes: p.UploadedBytes, FreedBytes: p.FreedBytes}
	}
	// Tests stop a status here, before it reads the remote lines.
	_ = faults.Point("status:remote-lines")
	live := d.store.LiveDeltas()
	for _, u := range ups {
		st.Remotes = append(st.Remotes, u.status(live))
	}
	return st
}

// Snapshots implements statusapi.Backend.
func (d *Daemon) Snapshots() []statusapi.Snapshot {
	if !d.isReady() {
		return nil
	}
	snaps := d.store.Snapshots()
	out := make([]statusapi.Snapshot, 0, len(snaps))
	for _, s := range snaps {
		out = append(out, toAPISnapshot(s))
	}
	return out
}

// Subscribe implements statusapi.Backend.
func (d *Daemon) Subscribe() (<-chan statusapi.Event, func()) { return d.events.subscribe() }

// Metrics implements statusapi.Backend.
func (d *Daemon) Metrics() http.Handler { return d.metrics.handler }
