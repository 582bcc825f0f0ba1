package store

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// TestBigBufsStayWithinTheBudget: goroutines taking and returning copies
// of chunks of every size up to the largest media chunk never hold more
// than the budget between them, in use and kept together, and every get
// is served (a returned buffer wakes the waiters).
func TestBigBufsStayWithinTheBudget(t *testing.T) {
	const limit = 4 << 20
	b := newBigBufs(limit)
	var wg sync.WaitGroup
	var mu sync.Mutex
	peak := 0
	// In its first round each goroutine holds its buffer until a get has
	// waited for the budget, so that the wake-ups are tested whatever the
	// scheduling: every buffer is at least 2 MiB, two fill the budget and
	// the third get waits. Were the budget not kept, all eight would hold
	// one, and the first round ends then (the peak below fails).
	const goroutines = 8
	var waits, holding atomic.Int64
	var contendedOnce sync.Once
	contended := make(chan struct{})
	release := func() { contendedOnce.Do(func() { close(contended) }) }
	bigBufWaitHook = func() { waits.Add(1); release() }
	t.Cleanup(func() { bigBufWaitHook = nil })
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 200 {
				n := bigChunk + 1 + rng.IntN(2<<20-bigChunk)
				buf := b.get(n)
				if cap(*buf) < n || len(*buf) != 0 {
					t.Errorf("get(%d): len %d cap %d", n, len(*buf), cap(*buf))
				}
				// The copy's length, without writing it: copying up to
				// 2 MiB 1,600 times took 47 s under -race, and the
				// budget counts capacities.
				*buf = (*buf)[:n]
				b.mu.Lock()
				total := b.total
				b.mu.Unlock()
				mu.Lock()
				peak = max(peak, total)
				mu.Unlock()
				if i == 0 {
					if holding.Add(1) == goroutines {
						release()
					}
					<-contended
				}
				b.put(buf)
			}
		}()
	}
	wg.Wait()
	if peak > limit {
		t.Fatalf("big buffers took %d bytes, over the budget of %d", peak, limit)
	}
	if waits.Load() == 0 {
		t.Fatal("no get waited for the budget: the wake-ups went untested")
	}
	if n := b.inUse(); n != 0 {
		t.Fatalf("%d bytes still in use after every buffer was returned", n)
	}
	// One larger than the whole budget is served when nothing else is held.
	big := b.get(limit + 1)
	if cap(*big) < limit+1 {
		t.Fatalf("get(%d) gave a buffer of %d", limit+1, cap(*big))
	}
	b.put(big)
}

// A copy larger than a big buffer (a tree or list blob over 2 MiB: a
// directory of tens of thousands of photos) gets a buffer of its own,
// which is not kept: kept, it would hold the budget past its limit and
// leave room for one 2 MiB copy at a time for the rest of the writer's
// life (found in review).
func TestBigBufsDropAnOversizedBuffer(t *testing.T) {
	b := newBigBufs(bigBudget)
	huge := b.get(bigBudget + 1)
	b.put(huge)
	if b.total != 0 || len(b.free) != 0 {
		t.Fatalf("after an oversized buffer came back: %d bytes of buffers kept (%d free), want none", b.total, len(b.free))
	}
	first, second := b.get(bigBuf), b.get(bigBuf) // would wait for ever with it kept
	b.put(first)
	b.put(second)
	if b.total > b.limit {
		t.Fatalf("%d bytes of buffers, over the budget of %d", b.total, b.limit)
	}
}

// TestBigBufsGetMoreDoesNotWait: holders of every buffer of the budget
// each get one more without waiting (each waiting for another's would
// never end), and once all are returned the budget is back within its
// limit, the extras dropped.
func TestBigBufsGetMoreDoesNotWait(t *testing.T) {
	const limit = 3 * bigBuf
	b := newBigBufs(limit)
	held := []*[]byte{b.get(bigBuf), b.get(bigBuf), b.get(bigBuf)}
	var more []*[]byte
	for range held {
		more = append(more, b.getMore(bigBuf)) // a wait here hangs the test
	}
	if got := b.inUse(); got != 6*bigBuf {
		t.Fatalf("in use %d, want %d", got, 6*bigBuf)
	}
	for _, buf := range append(held, more...) {
		b.put(buf)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.total > limit {
		t.Fatalf("the budget holds %d bytes after every buffer was returned, past its limit of %d", b.total, limit)
	}
}
