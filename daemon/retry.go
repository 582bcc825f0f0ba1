package daemon

import "time"

// cycleRetry schedules the retry of a failed backup cycle: a full disk, an
// unreadable source or any other failure clears up without a change the
// watcher would see, so waiting for the next change could leave the last
// commits in no snapshot for hours. Retries back off from first to max;
// a cycle that succeeds (for whatever reason) resets it. It belongs to
// the backup loop's goroutine.
type cycleRetry struct {
	first, max time.Duration
	next       time.Duration // the delay after the next failure
	t          *time.Timer   // nil when no retry is scheduled
}

func newCycleRetry(first, max time.Duration) *cycleRetry {
	return &cycleRetry{first: first, max: max, next: first}
}

// failed schedules a retry and returns its delay.
func (r *cycleRetry) failed() time.Duration {
	r.stop()
	d := r.next
	r.t = time.NewTimer(d)
	r.next = min(2*r.next, r.max)
	return d
}

// succeeded cancels any retry and resets the backoff.
func (r *cycleRetry) succeeded() {
	r.stop()
	r.next = r.first
}

// C fires when a retry is due; nil (never) when none is scheduled.
func (r *cycleRetry) C() <-chan time.Time {
	if r.t == nil {
		return nil
	}
	return r.t.C
}

// fired marks the scheduled retry as taken.
func (r *cycleRetry) fired() { r.t = nil }

func (r *cycleRetry) stop() {
	if r.t != nil {
		r.t.Stop()
		r.t = nil
	}
}
