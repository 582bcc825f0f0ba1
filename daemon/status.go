package daemon

import (
	"net/http"
	"time"

	"github.com/chatsafe/chatsafe/faults"
	"github.com/chatsafe/chatsafe/statusapi"
)

// state derives the daemon's state from what is really happening.
func (d *Daemon) state() string {
	r := d.readState()
	lines := make([]statusapi.RemoteStatus, len(r.ups))
	for i, u := range r.ups {
		lines[i] = u.activity()
	}
	var f stateFacts
	if d.isReady() {
		f = stateFacts{takenOver: d.store.TakenOver() != nil, forked: d.store.Fork() != nil,
			damaged: d.store.Damage() != nil, offline: d.offlineBackups}
	}
	return d.stateOf(r, lines, f)
}

// stateFacts are the store's part of what the state is derived from
// (none before the daemon is ready). offline, asked only when it
// matters, reports whether the open store backs up without its first
// remote.
type stateFacts struct {
	takenOver, forked, damaged bool
	offline                    func() bool
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

// stateOf derives the state from r, the store's facts f and the remotes'
// lines, one read of each uploader (Status derives it from the very lines
// it shows, so that a remote failing meanwhile cannot show its error
// beside "idle").
func (d *Daemon) stateOf(r stateReading, lines []statusapi.RemoteStatus, f stateFacts) string {
	if !d.isReady() && r.offline != nil {
		if isDiskFull(r.offline.err) {
			return statusapi.StateError // as offlineStatus says
		}
		return statusapi.StateOffline
	}
	switch {
	case f.takenOver:
		return statusapi.StateTakenOver
	case f.forked:
		return statusapi.StateForked
	case f.damaged:
		return statusapi.StateDamaged
	case r.scanning:
		return statusapi.StateScanning
	case f.offline != nil && f.offline():
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
	// The store's part is one reading, never one that waits for the
	// store's long work (storeview.go).
	v := d.storeView()
	r := d.readState()
	st.KeySource = d.keySource // set with the store, before ready
	st.LastError = r.lastErr
	st.RepositoryID = v.id
	if v.last != nil {
		s := toAPISnapshot(*v.last)
		st.LastSnapshot = &s
	}
	st.PendingDeltas = v.pending
	st.TakenOver, st.Fork = apiTakenOver(v.takenOver), apiFork(v.fork)
	st.Damage = apiDamage(v.damage)
	st.Warnings = d.warnings()
	if off := v.offline; off != nil {
		st.Offline = &statusapi.Offline{Snapshots: off.Snapshots, FromState: off.FromState}
	}
	if p := d.LastPrune(); !p.Time.IsZero() {
		st.LastPrune = &statusapi.Prune{Time: p.Time, TookS: p.Took.Seconds(), Error: p.Err, Forgotten: p.Forgotten,
			Rewritten: p.Rewritten, Written: p.Written, Deleted: p.Deleted, UploadedBytes: p.UploadedBytes, FreedBytes: p.FreedBytes}
	}
	// Tests stop a status here, before it reads the remote lines.
	_ = faults.Point("status:remote-lines")
	for _, u := range r.ups {
		st.Remotes = append(st.Remotes, u.status(v.live))
	}
	st.State = d.stateOf(r, st.Remotes, v.facts())
	return st
}

// Snapshots implements statusapi.Backend.
func (d *Daemon) Snapshots() []statusapi.Snapshot {
	if !d.isReady() {
		return nil
	}
	snaps := d.snaps.get(d.store.Snapshots) // never waiting for the store's long work
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
