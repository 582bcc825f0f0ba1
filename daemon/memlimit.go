package daemon

import (
	"math"
	"os"
	"runtime/debug"
	rtmetrics "runtime/metrics"
)

// The binary follows the live heap until the daemon's first cycle commits
// (cmd/chatsafe: a quarter above it, the one-shot backup's rule), then
// sets a starting limit (100 MiB) that keeps a cycle's short-lived buffers
// in check. A daemon watching a large tree keeps about that much live
// between cycles (the store's index, and the file cache with every
// database's page map: ~100 MB for a 1 GB database beside 50,000 files);
// with the limit at the live heap the collector runs without pause, and a
// one-message cycle took 6× as long as with room to spare. So after each
// later cycle the limit becomes twice the live heap (what GOGC=100
// allows), never less than the starting limit. A limit set through
// GOMEMLIMIT is the user's and is left alone.

// memLimit adjusts the soft memory limit to the live heap. Only the
// daemon's loop uses it.
type memLimit struct {
	// handOver, if set, is called when the first cycle commits
	// (Options.FirstCycleDone); the limit the process has then is base.
	handOver func()
	started  bool
	base     int64 // the limit to keep at least; 0: leave the limit alone
}

func newMemLimit(handOver func()) *memLimit {
	return &memLimit{handOver: handOver}
}

// start hands the limit over to this rule at the first committed cycle.
func (m *memLimit) start() {
	m.started = true
	if m.handOver != nil {
		m.handOver()
	}
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	base := debug.SetMemoryLimit(-1) // reads it
	if base == math.MaxInt64 {
		return // no limit (tests, or the library used in-process)
	}
	m.base = base
}

// limitFor is the soft limit for a live heap of live bytes.
func limitFor(base, live int64) int64 {
	if live > math.MaxInt64/2 {
		return math.MaxInt64
	}
	return max(base, 2*live)
}

// adjust sets the limit for the live heap the last collection found; a
// committed cycle calls it.
func (m *memLimit) adjust() {
	if !m.started {
		m.start()
	}
	if m.base == 0 {
		return
	}
	s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(s)
	if s[0].Value.Kind() != rtmetrics.KindUint64 {
		return
	}
	debug.SetMemoryLimit(limitFor(m.base, int64(min(s[0].Value.Uint64(), math.MaxInt64))))
}
