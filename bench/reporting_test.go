package main

import (
	"testing"
	"time"
)

// fakeClock advances only when slept on.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time        { return c.t }
func (c *fakeClock) sleep(d time.Duration) { c.t = c.t.Add(d) }
func (c *fakeClock) wait() quietWait {
	return quietWait{min: reportDelay, stable: reportStable, max: reportMax, poll: reportPoll, now: c.now, sleep: c.sleep}
}
func (c *fakeClock) since(t0 time.Time) time.Duration { return c.t.Sub(t0) }

// The wait lasts at least its minimum (the reporter's delay), follows the
// counter while it moves, and stops once it has been still long enough.
func TestWaitQuietFollowsTheReporter(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	t0 := c.t
	// Still at first, then 512 MB reported at 2.1 s and 384 more at 2.3 s
	// (as the VM's reporter did after a 1.5 GB file was deleted).
	read := func() int64 {
		switch e := c.since(t0); {
		case e < 2100*time.Millisecond:
			return 100
		case e < 2300*time.Millisecond:
			return 100 + 512
		default:
			return 100 + 896
		}
	}
	moved, quiet := waitQuiet(read, c.wait())
	if !quiet || moved != 896 {
		t.Fatalf("moved %d, quiet %v; want 896 and quiet", moved, quiet)
	}
	if e := c.since(t0); e < 2300*time.Millisecond+reportStable || e > 2400*time.Millisecond+reportStable {
		t.Fatalf("waited %v; want %v after the last move at 2.3 s", e, reportStable)
	}
	// A counter that never moves: the minimum, no more.
	c2 := &fakeClock{t: time.Unix(1000, 0)}
	t1 := c2.t
	if _, quiet := waitQuiet(func() int64 { return 7 }, c2.wait()); !quiet || c2.since(t1) != max(reportDelay, reportStable) {
		t.Fatalf("a still counter: quiet %v after %v; want quiet after %v", quiet, c2.since(t1), max(reportDelay, reportStable))
	}
}

// A counter that keeps moving (other processes freeing memory) does not
// hold the bench up past the bound.
func TestWaitQuietIsBounded(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	t0 := c.t
	n := int64(0)
	moved, quiet := waitQuiet(func() int64 { n += 4096; return n }, c.wait())
	if quiet {
		t.Fatal("a counter that never rests came to rest")
	}
	if e := c.since(t0); e < reportMax || e > reportMax+reportPoll {
		t.Fatalf("waited %v; want the %v bound", e, reportMax)
	}
	if moved <= 0 {
		t.Fatalf("moved %d", moved)
	}
}
