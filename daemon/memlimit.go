package daemon

import (
	"math"
	"os"
	"runtime/debug"
	rtmetrics "runtime/metrics"
)

// The binary starts with a soft memory limit (cmd/chatsafe: 100 MiB) that
// keeps a backup's short-lived buffers in check. A daemon watching a large
// tree keeps about that much live between cycles (the store's index, and
// the file cache with every database's page map: ~100 MB for a 1 GB
// database beside 50,000 files); with the limit at the live heap the
// collector runs without pause, and a one-message cycle took 6× as long
// as with room to spare. So after each cycle the limit becomes twice the
// live heap (what GOGC=100 allows), never less than the starting limit.
// A limit set through GOMEMLIMIT is the user's and is left alone.

// memLimit adjusts the soft memory limit to the live heap.
type memLimit struct {
	base int64 // the limit at start; 0: leave the limit alone
}

func newMemLimit() memLimit {
	if os.Getenv("GOMEMLIMIT") != "" {
		return memLimit{}
	}
	base := debug.SetMemoryLimit(-1) // reads it
	if base == math.MaxInt64 {
		return memLimit{} // no limit (tests, or the library used in-process)
	}
	return memLimit{base: base}
}

// limitFor is the soft limit for a live heap of live bytes.
func limitFor(base, live int64) int64 {
	if live > math.MaxInt64/2 {
		return math.MaxInt64
	}
	return max(base, 2*live)
}

// adjust sets the limit for the live heap the last collection found.
func (m memLimit) adjust() {
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
