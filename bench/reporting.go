package main

import "time"

// Free page reporting (virtio-balloon): the guest hands free memory back
// to its host about 2 s after it was freed (the kernel's
// PAGE_REPORTING_DELAY), and a page touched after that costs a first
// touch in the host (~10 µs; docs/benchmarks.md, "Restore on --full:
// what varies"). The warm-up before each timed phase frees a corpus' worth
// of memory, so a phase that started at once raced the reporter: in one
// --full run 1,153 MB were reported during rclone's restore, none during
// chatsafe's, and the run before it the other way round ("Restore,
// eleventh session"). settle now waits, outside the timing, until the
// reporter has been through what the warm-up freed, so that every tool's
// phase starts from memory in the same state, whatever its place in the
// order.
const (
	reportDelay = 2500 * time.Millisecond // at least this long after the warm-up
	// Then until the counter has not moved for this long: the reporter
	// works in passes about 2 s apart while free memory is left to
	// report (after a 1.5 GB file was deleted: 896 MB at 2.1-2.3 s, 372
	// MB more at 4.5 s), so a shorter stillness ended between passes.
	reportStable = 2500 * time.Millisecond
	reportMax    = 10 * time.Second // and never longer (other processes free memory too)
	reportPoll   = 100 * time.Millisecond
)

// quietWait says how waitQuiet waits.
type quietWait struct {
	min, stable, max, poll time.Duration
	now                    func() time.Time
	sleep                  func(time.Duration)
}

// waitQuiet reads a counter every poll until at least min has passed and
// the counter has not moved for stable, or max has passed. It returns how
// much the counter moved and whether it came to rest.
func waitQuiet(read func() int64, w quietWait) (moved int64, quiet bool) {
	start := w.now()
	first := read()
	last, since := first, start
	for {
		w.sleep(w.poll)
		t := w.now()
		if v := read(); v != last {
			last, since = v, t
		}
		if t.Sub(start) >= w.min && t.Sub(since) >= w.stable {
			return last - first, true
		}
		if t.Sub(start) >= w.max {
			return last - first, false
		}
	}
}

// waitForReporting waits (outside the timing) until free page reporting
// has handed back what was just freed; where the kernel does not say what
// it reported, it returns at once.
func waitForReporting() (waited time.Duration, moved int64, quiet, ok bool) {
	if _, ok := reportedBytes(); !ok {
		return 0, 0, false, false
	}
	start := time.Now()
	moved, quiet = waitQuiet(func() int64 { n, _ := reportedBytes(); return n },
		quietWait{min: reportDelay, stable: reportStable, max: reportMax, poll: reportPoll, now: time.Now, sleep: time.Sleep})
	return time.Since(start), moved, quiet, true
}
