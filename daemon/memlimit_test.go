package daemon

import (
	"math"
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
