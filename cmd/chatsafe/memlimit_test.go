package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestOneShotLimit(t *testing.T) {
	for _, c := range []struct{ floor, live, want int64 }{
		{48 << 20, 0, 48 << 20},
		{48 << 20, 30 << 20, 48 << 20},
		{48 << 20, 40 << 20, 50 << 20},
		{48 << 20, 400 << 20, 500 << 20},
		{48 << 20, math.MaxInt64 - 1, math.MaxInt64},
	} {
		if got := oneShotLimit(c.floor, c.live); got != c.want {
			t.Errorf("oneShotLimit(%d, %d) = %d, want %d", c.floor, c.live, got, c.want)
		}
	}
}

// The shipping binary keeps no heap samples; a test build writing heap
// profiles at the live heap's peaks keeps them.
func TestHeapSamplesOff(t *testing.T) {
	defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
	runtime.MemProfileRate = 512 << 10
	stopHeapSamples(func(uint64) {})
	if runtime.MemProfileRate != 512<<10 {
		t.Errorf("with the heap-peak hook: MemProfileRate %d, want it kept", runtime.MemProfileRate)
	}
	stopHeapSamples(nil)
	if runtime.MemProfileRate != 0 {
		t.Errorf("MemProfileRate %d, want 0", runtime.MemProfileRate)
	}
}

// The limiter raises the limit after a collection finds more live than
// the floor allows, so the collector does not run without pause; in a
// daemon it goes on doing so until the daemon's first cycle ends, then
// the daemon takes the limit over and the limiter leaves it alone.
func TestMemLimiterFollowsTheLiveHeap(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	set := make(chan int64, 16)
	m := &memLimiter{floor: 1 << 20, adjusted: func(l int64) {
		select {
		case set <- l:
		default:
		}
	}}
	m.arm()
	live := make([]byte, 64<<20)
	for i := range live {
		live[i] = byte(i)
	}
	followed := func(when string) {
		t.Helper()
		var limit int64
		deadline := time.After(30 * time.Second)
		for limit < 64<<20 {
			runtime.GC()
			select {
			case limit = <-set:
			case <-deadline:
				t.Fatalf("%s: no limit set after collections with 64 MiB live (last %d)", when, limit)
			}
		}
		if limit < 80<<20 {
			t.Errorf("%s: limit %d MiB for 64 MiB live, want at least a quarter above it", when, limit>>20)
		}
		if got := debug.SetMemoryLimit(-1); got < 80<<20 {
			t.Errorf("%s: the process's limit is %d MiB with 64 MiB live, want at least a quarter above it", when, got>>20)
		}
	}
	followed("a one-shot")
	m.forDaemon()
	debug.SetMemoryLimit(1 << 20) // followed again from here
	for len(set) > 0 {
		<-set
	}
	followed("a daemon's first cycle")
	runtime.KeepAlive(live)

	m.daemonTakesOver()
	for len(set) > 0 {
		<-set // set before the daemon took over
	}
	if got := debug.SetMemoryLimit(-1); got != daemonMemoryLimit {
		t.Errorf("the daemon starts from %d, want %d", got, daemonMemoryLimit)
	}
	runtime.GC()
	runtime.GC()
	select {
	case l := <-set:
		t.Errorf("the limiter set %d after the daemon took over", l)
	default:
	}
	var nilLimiter *memLimiter
	nilLimiter.forDaemon() // GOMEMLIMIT set: nothing to do, no panic
	nilLimiter.daemonTakesOver()
}

// A one-shot backup collects only near the soft limit: GOGC off until the
// daemon takes the process over, and a GOGC the user set is theirs.
func TestCollectAtLimit(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	// daemonTakesOver sets the daemon's limit: the package's other tests
	// keep the process's own.
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	t.Setenv("GOGC", "")
	m := &memLimiter{floor: oneShotMemoryFloor}
	m.collectAtLimit()
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Errorf("GOGC %d after collectAtLimit, want off (-1)", got)
	}
	m.forDaemon()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC %d once the daemon took over, want 100", got)
	}
	m.collectAtLimit() // the daemon's process: left alone
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC %d after collectAtLimit in the daemon, want 100", got)
	}
	m.daemonTakesOver()
	m.collectAtLimit()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC %d after collectAtLimit once the daemon took the limit over, want 100", got)
	}

	t.Setenv("GOGC", "50")
	debug.SetGCPercent(50)
	(&memLimiter{floor: oneShotMemoryFloor}).collectAtLimit()
	if got := debug.SetGCPercent(100); got != 50 {
		t.Errorf("GOGC %d with GOGC=50 set by the user, want 50", got)
	}
	var nilLimiter *memLimiter // GOMEMLIMIT set: nothing to do, no panic
	nilLimiter.collectAtLimit()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC %d with the user's GOMEMLIMIT, want 100", got)
	}
}
