package main

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"sync"
)

// The process's soft memory limit (docs/benchmarks.md, "Peak RSS"). Go's
// collector lets the heap grow to twice what is live (GOGC=100): a
// one-shot backup of the bench's --full corpus with 44 MB live peaked at
// 96 MB of anonymous memory under the former 100 MiB limit, beside the
// executable's ~40 MB of mapped pages. A one-shot command keeps the limit
// at oneShotMemoryFloor, or a quarter above the live heap once that is
// more (a larger tree): a limit below the live heap would run the
// collector without pause. Measured on that corpus (gctrace's share: the
// collector's time over GOMAXPROCS × wall time): a 56 MiB floor gave 2 %
// for the backup and 4–7 % for the restore; 48 MiB 8–11 % and 13–14 %.
// With heap profiling off (stopHeapSamples: ~1.5 MB less runtime memory
// under the same limit), 54 MiB leaves the heap the room 56 MiB did:
// peak RSS 1.4 MB lower, collector 1–4 % in backups, 1 % in restores
// (docs/benchmarks.md, "Heap samples off, and a 54 MiB floor").
// The daemon follows the same rule until its first cycle commits (its first
// backup, the largest live heap it has: docs/benchmarks.md, "Twenty-ninth
// session"), then keeps its own (daemon/memlimit.go: twice the live heap
// after each cycle, from daemonMemoryLimit). GOMEMLIMIT, if set, is the
// user's and is left alone.
const (
	oneShotMemoryFloor = 54 << 20
	daemonMemoryLimit  = 100 << 20
)

// memLimiter moves the soft limit with the live heap after every
// collection. It re-arms a finalizer, which the runtime runs after each
// collection that finds the last sentinel unreachable; stop ends it.
type memLimiter struct {
	floor   int64
	mu      sync.Mutex // orders adjust, collectAtLimit, forDaemon and daemonTakesOver
	stopped bool
	// noPacing: collectAtLimit turned GOGC off (forDaemon turns it on).
	noPacing bool
	// daemon: the process is a daemon's (forDaemon), whose collector
	// keeps GOGC's pacing.
	daemon bool
	// adjusted, if set, is told each limit set (tests).
	adjusted func(limit int64)
	// peak, if set, is told the live heap after each collection
	// (heapPeakHook: test builds only).
	peak func(live uint64)
}

// gcSentinel is large enough and holds a pointer, so the tiny allocator
// never batches it with other objects (which could delay its finalizer).
type gcSentinel struct {
	_ *int
	_ [16]byte
}

// stopHeapSamples turns the runtime's heap profiling off unless peak (a
// test build's heap-peak hook) writes heap profiles: nothing else in the
// binary reads them, and the records of the sampled allocations (~1.5 MB
// at a first backup's peak, never freed) count against the soft limit
// and the peak RSS (docs/benchmarks.md, "Heap samples off, and a 54 MiB
// floor"). Called first thing in main, as runtime.MemProfileRate asks.
func stopHeapSamples(peak func(live uint64)) {
	if peak == nil {
		runtime.MemProfileRate = 0
	}
}

// startMemLimiter sets the one-shot limit and follows the live heap; it
// returns nil, and changes nothing, when GOMEMLIMIT is set.
func startMemLimiter(floor int64) *memLimiter {
	peak := heapPeakHook()
	stopHeapSamples(peak)
	if os.Getenv("GOMEMLIMIT") != "" {
		return nil
	}
	m := &memLimiter{floor: floor, peak: peak}
	debug.SetMemoryLimit(floor)
	m.arm()
	return m
}

func (m *memLimiter) arm() {
	runtime.SetFinalizer(&gcSentinel{}, func(*gcSentinel) {
		if m.adjust() {
			m.arm()
		}
	})
}

// oneShotLimit is the soft limit for a live heap of live bytes.
func oneShotLimit(floor, live int64) int64 {
	if live > math.MaxInt64/2 {
		return math.MaxInt64
	}
	return max(floor, live+live/4)
}

// adjust sets the limit for the live heap the last collection found;
// false once the daemon took the limit over.
func (m *memLimiter) adjust() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return false
	}
	s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(s)
	if s[0].Value.Kind() != rtmetrics.KindUint64 {
		return true
	}
	if m.peak != nil {
		m.peak(s[0].Value.Uint64())
	}
	limit := oneShotLimit(m.floor, int64(min(s[0].Value.Uint64(), math.MaxInt64)))
	debug.SetMemoryLimit(limit)
	if m.adjusted != nil {
		m.adjusted(limit)
	}
	return true
}

// collectAtLimit turns off the collector's proportional pacing (GOGC), so
// that the heap is collected only as it nears the soft limit: a one-shot
// backup of the bench's --quick corpus ran 7 collections, 6 of them in the
// first 85 ms while the heap grew through its smallest goals (4 to 32
// MB), each with its stop-the-world and its write-barrier phase; now it
// runs 4 (2 in package initialisation, before main, and 2 at the limit),
// for 3–4 % fewer instructions and ~1 MB more peak RSS (docs/benchmarks.md,
// "First backup on --quick, tenth session"). The limit still bounds the
// heap (on --full it paced the collector already). GOGC set by the user is
// left alone, and so is a process whose limit is the user's (nil) or a
// daemon's.
func (m *memLimiter) collectAtLimit() {
	if m == nil || os.Getenv("GOGC") != "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped || m.daemon {
		return
	}
	debug.SetGCPercent(-1)
	m.noPacing = true
}

// forDaemon gives a long-running process back the collector's pacing
// (GOGC); the limit keeps following the live heap, as a one-shot's does,
// until daemonTakesOver (its first committed cycle). Under the daemon's
// fixed 100 MiB starting limit its first backup of a 10 GB tree held ~98
// MB of anonymous memory; following the live heap, 82 MB, for the same
// CPU (docs/benchmarks.md, "Twenty-ninth session"). nil (the limit is the
// user's, or this is a test): nothing changes.
func (m *memLimiter) forDaemon() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.daemon = true
	if m.noPacing {
		debug.SetGCPercent(100)
		m.noPacing = false
	}
}

// daemonTakesOver stops following the live heap and sets the daemon's
// starting limit, which the daemon then manages after each cycle
// (daemon.Options.FirstCycleDone; nil: nothing changes).
func (m *memLimiter) daemonTakesOver() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopped = true
	debug.SetMemoryLimit(daemonMemoryLimit)
}
