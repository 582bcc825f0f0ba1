package watcher

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

const (
	tQuiet = 2 * time.Second
	tMax   = 30 * time.Second
	tFull  = time.Hour
)

// startAgg runs an aggregator in the current synctest bubble, consumes the
// first-run set at t=0, and stops the aggregator when the test ends.
func startAgg(t *testing.T) *aggregator {
	t.Helper()
	a := newAggregator(tQuiet, tMax, tFull)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.run(ctx, &input{full: true, reason: ReasonFirstRun, now: true})
	}()
	t.Cleanup(func() { cancel(); <-done })
	start := time.Now()
	cs := recv(t, a, time.Second)
	if !cs.FullScan || cs.Reason != ReasonFirstRun || time.Since(start) != 0 {
		t.Fatalf("first set = %+v after %v, want an immediate first-run full scan", cs, time.Since(start))
	}
	return a
}

// recv waits (in fake time) up to d for a set.
func recv(t *testing.T, a *aggregator, d time.Duration) ChangeSet {
	t.Helper()
	select {
	case cs := <-a.out:
		return cs
	case <-time.After(d):
		t.Fatalf("no change set within %v", d)
		return ChangeSet{}
	}
}

// expectNone asserts that nothing is emitted for d.
func expectNone(t *testing.T, a *aggregator, d time.Duration) {
	t.Helper()
	select {
	case cs := <-a.out:
		t.Fatalf("unexpected change set %+v", cs)
	case <-time.After(d):
	}
}

func TestAggregatorQuietPeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := startAgg(t)
		start := time.Now()
		a.in <- input{paths: []string{"b"}}
		time.Sleep(time.Second) // fake time: less than the quiet period
		a.in <- input{paths: []string{"a", "b"}}
		expectNone(t, a, tQuiet-time.Nanosecond)
		cs := recv(t, a, time.Second)
		if got := time.Since(start); got != time.Second+tQuiet {
			t.Errorf("emitted after %v, want %v (quiet period after the last event)", got, time.Second+tQuiet)
		}
		if !slices.Equal(cs.Paths, []string{"a", "b"}) || cs.FullScan || cs.Reason != ReasonChanges {
			t.Errorf("set = %+v", cs)
		}
		expectNone(t, a, tFull/2)
	})
}

func TestAggregatorMaxDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := startAgg(t)
		ctx, cancel := context.WithCancel(t.Context())
		sender := make(chan struct{})
		defer func() { cancel(); <-sender }()
		go func() { // an event every second, forever: the quiet period never ends
			defer close(sender)
			for i := 0; ; i++ {
				select {
				case a.in <- input{paths: []string{fmt.Sprintf("f%03d", i)}}:
				case <-ctx.Done():
					return
				}
				select {
				case <-time.After(time.Second):
				case <-ctx.Done():
					return
				}
			}
		}()
		start := time.Now()
		cs := recv(t, a, time.Hour)
		if got := time.Since(start); got != tMax {
			t.Errorf("first set after %v, want MaxDelay %v", got, tMax)
		}
		if len(cs.Paths) != 30 || cs.Paths[0] != "f000" || cs.Paths[29] != "f029" {
			t.Errorf("set has %d paths %v..., want f000..f029", len(cs.Paths), cs.Paths[:min(3, len(cs.Paths))])
		}
		cs = recv(t, a, time.Hour)
		if got := time.Since(start); got != 2*tMax {
			t.Errorf("second set after %v, want %v", got, 2*tMax)
		}
		if len(cs.Paths) != 30 || cs.Paths[0] != "f030" {
			t.Errorf("second set = %d paths from %v", len(cs.Paths), cs.Paths[:1])
		}
	})
}

func TestAggregatorBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := startAgg(t)
		const n = 10000
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range n {
				a.in <- input{paths: []string{fmt.Sprintf("media/%05d.jpg", i), "msgstore.db"}}
				if i%100 == 0 {
					time.Sleep(10 * time.Millisecond) // spread over 1s
				}
			}
		}()
		seen := map[string]bool{}
		sets := 0
		for len(seen) < n+1 {
			cs := recv(t, a, time.Minute)
			sets++
			for _, p := range cs.Paths {
				seen[p] = true
			}
		}
		<-done
		if sets > 3 {
			t.Errorf("a burst of %d events gave %d change sets, want at most 3", n, sets)
		}
		expectNone(t, a, tFull/2)
	})
}

func TestAggregatorOverflowIsFullScan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := startAgg(t)
		a.in <- input{paths: []string{"a"}}
		a.in <- input{full: true, reason: ReasonOverflow}
		a.in <- input{paths: []string{"b"}}
		cs := recv(t, a, tMax)
		if !cs.FullScan || cs.Reason != ReasonOverflow || len(cs.Paths) != 0 {
			t.Errorf("set = %+v, want a full scan for overflow", cs)
		}
	})
}

func TestAggregatorRequestIsImmediate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := startAgg(t)
		a.in <- input{paths: []string{"x"}}
		a.in <- input{now: true, reason: ReasonRequested}
		start := time.Now()
		cs := recv(t, a, time.Second)
		if time.Since(start) != 0 || cs.Reason != ReasonRequested || !slices.Equal(cs.Paths, []string{"x"}) {
			t.Errorf("set = %+v after %v, want the pending path at once", cs, time.Since(start))
		}
		a.in <- input{now: true, full: true, reason: ReasonRequested}
		if cs := recv(t, a, time.Nanosecond); !cs.FullScan {
			t.Errorf("full request gave %+v", cs)
		}
	})
}

func TestAggregatorSlowConsumerMerges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := startAgg(t)
		a.in <- input{paths: []string{"a"}}
		time.Sleep(tQuiet + time.Second) // "a" is ready, nobody reads
		a.in <- input{paths: []string{"b"}}
		time.Sleep(tQuiet + time.Second) // "b" is ready too: merged
		a.in <- input{paths: []string{"c"}}
		cs := recv(t, a, time.Nanosecond)
		if !slices.Equal(cs.Paths, []string{"a", "b"}) {
			t.Errorf("first set = %v, want [a b]", cs.Paths)
		}
		if cs := recv(t, a, time.Minute); !slices.Equal(cs.Paths, []string{"c"}) {
			t.Errorf("second set = %v, want [c]", cs.Paths)
		}
	})
}

func TestAggregatorPeriodicFullScan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := startAgg(t)
		var intervals []time.Duration
		last := time.Now()
		for range 6 {
			// Idle: nothing at all before FullScanEvery.
			expectNone(t, a, tFull-time.Nanosecond)
			cs := recv(t, a, tFull/10+time.Second)
			if !cs.FullScan || cs.Reason != ReasonPeriodic {
				t.Fatalf("set = %+v, want a periodic full scan", cs)
			}
			intervals = append(intervals, time.Since(last))
			last = time.Now()
		}
		for _, iv := range intervals {
			if iv < tFull || iv > tFull+tFull/10 {
				t.Errorf("interval %v outside [%v, %v]", iv, tFull, tFull+tFull/10)
			}
		}
		if slices.Min(intervals) == slices.Max(intervals) {
			t.Errorf("intervals %v carry no jitter", intervals)
		}
		// Any full scan (here an overflow) restarts the period.
		time.Sleep(tFull / 2)
		a.in <- input{full: true, reason: ReasonOverflow}
		if cs := recv(t, a, tMax); cs.Reason != ReasonOverflow {
			t.Fatalf("set = %+v", cs)
		}
		expectNone(t, a, tFull-time.Nanosecond)
		if cs := recv(t, a, tFull/10+time.Second); cs.Reason != ReasonPeriodic {
			t.Errorf("set = %+v, want periodic", cs)
		}
	})
}

func TestSQLiteMain(t *testing.T) {
	for in, want := range map[string]string{
		"msgstore.db-wal":       "msgstore.db",
		"msgstore.db-shm":       "msgstore.db",
		"d/msgstore.db-journal": "d/msgstore.db",
		"msgstore.db":           "msgstore.db",
		"-wal":                  "-wal",
		"d/-shm":                "d/-shm",
		"photo.jpg":             "photo.jpg",
	} {
		if got := sqliteMain(in); got != want {
			t.Errorf("sqliteMain(%q) = %q, want %q", in, got, want)
		}
	}
}
