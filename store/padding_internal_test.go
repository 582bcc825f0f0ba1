package store

import (
	"math/rand/v2"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
)

func TestPadmeSize(t *testing.T) {
	if padmeSize(1) != padFloor || padmeSize(padFloor) != padFloor {
		t.Fatalf("floor: %d, %d", padmeSize(1), padmeSize(padFloor))
	}
	// Between 64 and 128 KiB there are 32 sizes, 2 KiB apart.
	distinct := map[int64]bool{}
	for n := int64(padFloor + 1); n <= 2*padFloor; n++ {
		distinct[padmeSize(n)] = true
	}
	if len(distinct) != 32 {
		t.Fatalf("%d padded sizes between 64 and 128 KiB, want 32", len(distinct))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	prev := int64(0)
	for i := 0; i < 100000; i++ {
		n := int64(padFloor) + rng.Int64N(1<<34)
		if i%2 == 0 {
			n = prev + rng.Int64N(1<<12) // neighbours, for monotony
		}
		p := padmeSize(n)
		if p < n || p < padFloor {
			t.Fatalf("padmeSize(%d) = %d, below its input", n, p)
		}
		if n > padFloor && float64(p-n) > 0.12*float64(n) {
			t.Fatalf("padmeSize(%d) = %d: %.1f %% overhead", n, p, 100*float64(p-n)/float64(n))
		}
		if n >= prev && p < padmeSize(prev) {
			t.Fatalf("not monotonic: padmeSize(%d) = %d < padmeSize(%d) = %d", n, p, prev, padmeSize(prev))
		}
		if padmeSize(p) != p {
			t.Fatalf("padmeSize(%d) = %d is not a fixed point", n, p)
		}
		prev = n
	}
}

func TestPaddingFor(t *testing.T) {
	for _, base := range []int64{0, 100, padFloor - crypt.Overhead, padFloor - 1, padFloor, 3 << 20, 300 << 20, 8 << 30} {
		p := int64(paddingFor(base))
		if p < crypt.Overhead || p > maxPadding {
			t.Fatalf("paddingFor(%d) = %d, out of [%d, %d]", base, p, crypt.Overhead, maxPadding)
		}
		if p < maxPadding && padmeSize(base+p) != base+p {
			t.Fatalf("paddingFor(%d) = %d: total %d is not a padded size", base, p, base+p)
		}
	}
}
