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
func (d *Daemon) state() string {
	r := d.readState()
	lines := make([]statusapi.RemoteStatus, len(r.ups))
	for i, u := range r.ups {
		lines[i] = u.activity()
	}
	return d.stateOf(r, lines, d.offlineBackups)
}

// stateReading is the daemon's own part of what its state is derived
// from, read at once under d.mu.
type stateReading struct {
	scanning, pruning bool
	lastErr           string
	ups               []*uploader
	offline           *offlineState
}

func (d *Daemon) readState() stateReading {
	d.mu.Lock()
	defer d.mu.Unlock()
	return stateReading{scanning: d.scanning, pruning: d.pruning, lastErr: d.lastErr, ups: d.uploaders, offline: d.offline}
}

// stateOf derives the state from r and the remotes' lines, one read of
// each uploader (Status derives it from the very lines it shows, so that
// a remote failing meanwhile cannot show its error beside "idle"), asking
// offlineBackups (only when it matters) whether the open store backs up
// without its first remote.
func (d *Daemon) stateOf(r stateReading, lines []statusapi.RemoteStatus, offlineBackups func() bool) string {
	if !d.isReady() && r.offline != nil {
		if isDiskFull(r.offline.err) {
			return statusapi.StateError // as offlineStatus says
		}
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
	if r.scanning {
		return statusapi.StateScanning
	}
	if d.isReady() && offlineBackups() {
		return statusapi.StateOffline
	}
	if d.isPaused() {
		return statusapi.StatePaused
	}
	if r.pruning {
		// A prune uploads compacted deltas and deletes obsolete ones:
		// the remotes are changing, which is what "uploading" tells.
		return statusapi.StateUploading
	}
	remoteFailing := false
	for _, l := range lines {
		if l.Uploading {
			return statusapi.StateUploading
		}
		remoteFailing = remoteFailing || l.LastError != ""
	}
	// "error" is what last_error says: a failed cycle. A remote failing
	// while cycles commit is "degraded", its error on its own line.
	if r.lastErr != "" {
		return statusapi.StateError
	}
	if remoteFailing {
		return statusapi.StateDegraded
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

// Status implements statusapi.Backend. It is one reading: the daemon's
// own fields are read at once, each remote's line once, and the state is
// derived last, from those.
func (d *Daemon) Status() statusapi.Status {
	cfg := d.config()
	st := statusapi.Status{
		Source:  cfg.Source,
		UptimeS: int64(time.Since(d.started).Seconds()),
		Version: d.opts.Version,
		PID:     pid,
		Remotes: []statusapi.RemoteStatus{},
		Config:  cfg.Path,
		Vault:   d.vaultStatus(cfg),
	}
	if !d.isReady() {
		d.offlineStatus(&st, cfg) // its state too: starting or offline
		return st
	}
	// The state and the status's offline section ask the store once.
	offline := sync.OnceValues(func() (store.OfflineStatus, bool) { return d.store.Offline() })
	r := d.readState()
	st.KeySource = d.keySource // set with the store, before ready
	st.LastError = r.lastErr
	st.RepositoryID = d.store.ID()
	if last, ok := d.store.LatestSnapshot(); ok {
		s := toAPISnapshot(last)
		st.LastSnapshot = &s
	}
	st.PendingDeltas = len(d.store.Pending())
	st.TakenOver, st.Fork = apiTakenOver(d.store.TakenOver()), apiFork(d.store.Fork())
	st.Damage = apiDamage(d.store.Damage())
	st.Warnings = d.warnings()
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
	for _, u := range r.ups {
		st.Remotes = append(st.Remotes, u.status(live))
	}
	st.State = d.stateOf(r, st.Remotes, func() bool { _, ok := offline(); return ok })
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
