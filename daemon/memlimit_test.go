package daemon

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestLimitFor(t *testing.T) {
	const base = 100 << 20
	for _, c := range []struct{ live, want int64 }{
		{0, base},
		{30 << 20, base},      // a small tree keeps the binary's limit
		{50 << 20, base},      // twice the live heap is the limit itself
		{90 << 20, 180 << 20}, // a large tree gets room to collect
		{math.MaxInt64, math.MaxInt64},
	} {
		if got := limitFor(base, c.live); got != c.want {
			t.Errorf("limitFor(%d, %d) = %d, want %d", base, c.live, got, c.want)
		}
	}
}

// The daemon's rule starts when the first cycle commits: the limiter that
// followed the live heap until then hands over once, and the limit it
// leaves is the base; the user's GOMEMLIMIT is left alone.
func TestMemLimitStartsAfterTheFirstCycle(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	t.Setenv("GOMEMLIMIT", "")
	const base = 1 << 40 // above any test's live heap: adjust keeps it
	handOvers := 0
	m := newMemLimit(func() {
		handOvers++
		debug.SetMemoryLimit(base)
	})
	debug.SetMemoryLimit(3 << 40)
	m.adjust()
	if handOvers != 1 || m.base != base {
		t.Fatalf("%d hand-overs, base %d; want 1 and %d", handOvers, m.base, base)
	}
	if got := debug.SetMemoryLimit(-1); got != base {
		t.Fatalf("limit %d after the first cycle, want the base %d", got, base)
	}
	debug.SetMemoryLimit(2 << 40)
	m.adjust()
	if got := debug.SetMemoryLimit(-1); got != base || handOvers != 1 {
		t.Fatalf("limit %d after a second cycle (%d hand-overs), want the base %d and one", got, handOvers, base)
	}

	t.Setenv("GOMEMLIMIT", "1GiB")
	user := newMemLimit(nil)
	debug.SetMemoryLimit(5 << 40)
	user.adjust()
	if got := debug.SetMemoryLimit(-1); got != 5<<40 {
		t.Fatalf("limit %d with GOMEMLIMIT set, want it left alone", got)
	}
}
