package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/chatsafe/chatsafe/statusapi"
)

// checkpointTrials is how many cycles each checkpoint mode is measured
// over (one more runs first, to have a checkpoint before the first).
const checkpointTrials = 4

// checkpointPace is the pause between two checkpoints of the app while a
// cycle scans: often enough to land inside the daemon's read
// transaction, rarely enough not to take a core from it.
const checkpointPace = time.Millisecond

// checkpointResult is the app checkpointing while the daemon backs up.
type checkpointResult struct {
	Mode string `json:"mode"` // PASSIVE or TRUNCATE
	Note string `json:"note,omitempty"`
	// Checkpoints is how many the app ran while the daemon scanned, over
	// all trials; MaxWaitS the longest one took in each trial.
	Checkpoints int       `json:"checkpoints"`
	MaxWaitS    []float64 `json:"max_wait_s,omitempty"`
	// FirstWaitS is how long each trial's first checkpoint took: the one
	// with the commit's frames to copy. After it the log is copied (and,
	// TRUNCATE, empty), and the daemon's later read transactions use the
	// database file alone, which no checkpoint waits for: only the first
	// can wait for the daemon, the others measure the machine.
	FirstWaitS []float64 `json:"first_wait_s,omitempty"`
	// Over5ms counts the checkpoints over all trials that took more than
	// 5 ms, MedianS and P99S the median and 99th percentile: the
	// distribution, of which the longest is only the tail (PASSIVE, which
	// never waits for a reader, is the machine's share of it).
	Over5ms int     `json:"over_5ms"`
	MedianS float64 `json:"median_s"`
	P99S    float64 `json:"p99_s"`
	// GaveUp counts the checkpoints that returned busy: the app's busy
	// timeout (5 s) ran out while the daemon read.
	GaveUp int `json:"gave_up"`
	// What the target means: how long a checkpoint waited on the
	// backup. A checkpoint that finds the daemon's read mark in its way
	// sleeps in the app's busy handler (SQLite's schedule: 1, 2, 5, 10
	// ms … between retries) until the read ends; BlockedS is, per
	// trial, the longest such sleep, from the handler's retry count
	// (busySlept). OwnS is, per trial, the longest time a checkpoint
	// took besides (its copy and sync, the disk's and the machine's).
	// Retries counts the checkpoints by how many retries they took
	// (PASSIVE never retries); BlockedOver5ms those that slept more
	// than 5 ms. BlockedNote says why none of it was measured.
	BlockedS       []float64   `json:"blocked_s,omitempty"`
	OwnS           []float64   `json:"own_s,omitempty"`
	Retries        map[int]int `json:"retries,omitempty"`
	BlockedOver5ms int         `json:"blocked_over_5ms"`
	BlockedNote    string      `json:"blocked_note,omitempty"`
	// MeetRead: the row's checkpoints begin only once the daemon's read
	// transaction holds frames of the log (readMarkProbe), so the first
	// meets it; Met counts the trials where it did (in the others the
	// scan ended first, and the checkpoints ran after it).
	MeetRead bool `json:"meet_read,omitempty"`
	Met      int  `json:"met,omitempty"`
	// What each one-message cycle after a checkpoint read and spent
	// (commit to snapshot on the remote), as for the plain cycles.
	CycleReadBytes []int64   `json:"cycle_read_bytes,omitempty"`
	CycleRChar     []int64   `json:"cycle_rchar_bytes,omitempty"`
	CycleCPUS      []float64 `json:"cycle_cpu_s,omitempty"`
}

// checkpointTrials: trials+1 times, the app commits one message and, from
// the daemon's "scanning" event until its next state event, runs `PRAGMA
// wal_checkpoint(mode)` over and over, timing each. A TRUNCATE checkpoint
// waits for every reader of a snapshot that holds frames: how long it
// slept for the daemon's read is its busy handler's share (BlockedS),
// the rest its own copy and sync (OwnS). Every
// cycle after the first follows the checkpoints of the one before, which
// (TRUNCATE) restarted the log: its cost is the "after a checkpoint" row.
//
// meet: each trial's checkpoints wait until the daemon's read holds
// frames of the log (the "meeting the read" row), so that the first one
// meets it rather than empty the log before the daemon reads.
func (d *daemonProc) checkpointTrials(ctx context.Context, w *Writer, st *statusapi.Status, mode string, meet bool, trials int) (checkpointResult, error) {
	r := checkpointResult{Mode: mode, MeetRead: meet}
	var probe *readMarkProbe
	if meet {
		var err error
		if probe, err = w.readMarks(); err != nil {
			return r, err
		}
	}
	var waits []time.Duration
	for i := range trials + 1 {
		var prev uint64
		if st.LastSnapshot != nil {
			prev = st.LastSnapshot.Seq
		}
		u0, err := readProcUsage(d.pid)
		if err != nil {
			return r, err
		}
		if err := w.AddMessage(ctx); err != nil {
			return r, err
		}
		if _, err := d.waitEvent(ctx, time.Minute, func(ev statusapi.Event) bool {
			return ev.Type == statusapi.EventState && ev.State == statusapi.StateScanning
		}); err != nil {
			return r, fmt.Errorf("no cycle after a commit: %w; see %s", err, d.log)
		}
		runs, met, sawSnapshot, err := d.checkpointWhileScanning(ctx, w, mode, prev, probe)
		if err != nil {
			return r, err
		}
		if met && i > 0 {
			r.Met++
		}
		took := r.add(runs)
		r.MaxWaitS = append(r.MaxWaitS, slices.Max(took).Seconds())
		r.FirstWaitS = append(r.FirstWaitS, took[0].Seconds())
		waits = append(waits, took...)
		if !sawSnapshot {
			if _, err := d.waitEvent(ctx, time.Minute, func(ev statusapi.Event) bool {
				return isSnapshotAfter(ev, prev)
			}); err != nil {
				return r, fmt.Errorf("no snapshot after a commit: %w; see %s", err, d.log)
			}
		}
		if *st, err = d.waitUploaded(ctx); err != nil {
			return r, err
		}
		u1, err := readProcUsage(d.pid)
		if err != nil {
			return r, err
		}
		if i > 0 {
			u := u1.sub(u0)
			r.CycleReadBytes = append(r.CycleReadBytes, u.readBytes)
			r.CycleRChar = append(r.CycleRChar, u.rchar)
			r.CycleCPUS = append(r.CycleCPUS, u.cpu)
		}
	}
	slices.Sort(waits)
	r.MedianS, r.P99S = waits[len(waits)/2].Seconds(), waits[len(waits)*99/100].Seconds()
	for _, t := range waits {
		if t > 5*time.Millisecond {
			r.Over5ms++
		}
	}
	return r, nil
}

// add counts one trial's checkpoints (at least one) into r and returns
// how long each took.
func (r *checkpointResult) add(runs []checkpointRun) []time.Duration {
	took := make([]time.Duration, len(runs))
	var blocked, own time.Duration
	measured := true
	for i, c := range runs {
		took[i] = c.Took
		if c.Busy {
			r.GaveUp++
		}
		if c.Retries == retriesUnknown {
			measured = false
			continue
		}
		if r.Retries == nil {
			r.Retries = map[int]int{}
		}
		r.Retries[c.Retries]++
		if c.Blocked > 5*time.Millisecond {
			r.BlockedOver5ms++
		}
		blocked, own = max(blocked, c.Blocked), max(own, c.Took-c.Blocked)
	}
	r.Checkpoints += len(runs)
	if !measured {
		r.BlockedNote = errNoBusyCount.Error()
		return took
	}
	r.BlockedS = append(r.BlockedS, blocked.Seconds())
	r.OwnS = append(r.OwnS, own.Seconds())
	return took
}

// checkpointWhileScanning checkpoints until the daemon's state changes
// from scanning, and reports each checkpoint (at least one ran) and
// whether the snapshot after prev was announced meanwhile. With a probe,
// the first checkpoint waits until the daemon's read holds frames of the
// log (met), or the scan ended.
func (d *daemonProc) checkpointWhileScanning(ctx context.Context, w *Writer, mode string, prev uint64, probe *readMarkProbe) (runs []checkpointRun, met, sawSnapshot bool, err error) {
	pace := time.NewTicker(checkpointPace)
	defer pace.Stop()
	ended := false
	if probe != nil {
		if met, ended, sawSnapshot, err = d.awaitReadMark(ctx, probe, prev); err != nil {
			return nil, met, sawSnapshot, err
		}
	}
	for {
		c, err := w.CheckpointMode(ctx, mode)
		if err != nil {
			return runs, met, sawSnapshot, err
		}
		runs = append(runs, c)
		if ended {
			return runs, met, sawSnapshot, nil
		}
		select {
		case ev, open := <-d.events:
			if done, err := d.scanEnded(ev, open, prev, &sawSnapshot); done || err != nil {
				return runs, met, sawSnapshot, err
			}
		case <-d.exited:
			return runs, met, sawSnapshot, fmt.Errorf("the daemon exited; see %s", d.log)
		case <-ctx.Done():
			return runs, met, sawSnapshot, ctx.Err()
		case <-pace.C:
		}
	}
}

// readMarkPoll is how often awaitReadMark looks at the daemon's read
// locks: a one-message read's first transaction lasts about a
// millisecond; an F_GETLK costs a microsecond or two.
const readMarkPoll = 20 * time.Microsecond

// awaitReadMark polls until the daemon holds a read lock on frames of
// the log (met) or its scan ended (ended).
func (d *daemonProc) awaitReadMark(ctx context.Context, probe *readMarkProbe, prev uint64) (met, ended, sawSnapshot bool, err error) {
	for !probe.held() {
		select {
		case ev, open := <-d.events:
			if done, err := d.scanEnded(ev, open, prev, &sawSnapshot); done || err != nil {
				return false, done, sawSnapshot, err
			}
		case <-d.exited:
			return false, false, sawSnapshot, fmt.Errorf("the daemon exited; see %s", d.log)
		case <-ctx.Done():
			return false, false, sawSnapshot, ctx.Err()
		default:
		}
		time.Sleep(readMarkPoll)
	}
	return true, false, sawSnapshot, nil
}

// scanEnded reads one event of the daemon's stream during a scan: it
// notes a snapshot after prev in saw, and says whether the scan ended
// (the state left scanning) or the stream did (an error).
func (d *daemonProc) scanEnded(ev statusapi.Event, open bool, prev uint64, saw *bool) (bool, error) {
	if !open {
		return false, fmt.Errorf("the event stream ended; see %s", d.log)
	}
	*saw = *saw || isSnapshotAfter(ev, prev)
	return ev.Type == statusapi.EventState && ev.State != statusapi.StateScanning, nil
}

func isSnapshotAfter(ev statusapi.Event, prev uint64) bool {
	return ev.Type == statusapi.EventSnapshot && ev.Snapshot != nil && ev.Snapshot.Seq > prev
}
