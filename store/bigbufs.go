package store

import "sync"

// Chunks larger than a pooled buffer (plainPool's 256 KiB: a media
// file's chunks, 2 MiB, read straight into one through
// Writer.ChunkBuffer; a large tree or list blob, copied) go to the sealing
// workers in a set of buffers whose capacity, in flight and kept for
// reuse together, is bounded: the sealing queue holds up to 2×GOMAXPROCS
// jobs besides the ones being sealed, and unbounded, 2 MiB chunks there
// could add up to 14 MB more to a first backup's peak RSS
// (docs/benchmarks.md, "Media in larger chunks").
const (
	// bigChunk is the largest copy plainPool serves.
	bigChunk = 256 << 10
	// bigBuf is a big buffer's capacity: the largest media chunk (2 MiB,
	// source.MediaChunk), so that any kept buffer takes any media chunk.
	// Buffers sized to their first chunk were dropped and made again
	// whenever a larger one came: on the 10 GB tree that churn cost the
	// first backup more CPU than the larger chunks saved.
	bigBuf = 2 << 20
	// bigBudget bounds the big buffers of one pipeline: three of them, so
	// that one waits in the queue while two workers seal one each.
	bigBudget = 3 * bigBuf
)

// bigBufs is one pipeline's set of big buffers. get waits while the
// budget is taken; the sealing workers return every buffer they were
// handed (sealPipeline.done), whatever the outcome, and a media visitor
// hands its buffer over (Writer.ChunkOwned) or back, so the wait ends —
// as long as nobody waits for one while holding the writer's delta lock
// (Writer.rot), which a visitor's hand-over may be waiting for: the
// writer takes a big copy's buffer before that lock (Writer.store,
// Writer.chunk; TestBigBufferWaitIsOutsideTheDeltaLock).
type bigBufs struct {
	mu    sync.Mutex
	freed sync.Cond
	free  []*[]byte
	total int // the capacity of every buffer, in use or free
	limit int
}

func newBigBufs(limit int) *bigBufs {
	b := &bigBufs{limit: limit}
	b.freed.L = &b.mu
	return b
}

// get returns an empty buffer of capacity n or more, waiting until the
// budget has room. A buffer larger than the whole budget is handed out
// only when no other is.
func (b *bigBufs) get(n int) *[]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		for i, buf := range b.free {
			if cap(*buf) >= n {
				b.free = append(b.free[:i], b.free[i+1:]...)
				*buf = (*buf)[:0]
				return buf
			}
		}
		size := max(n, bigBuf)
		if len(b.free) > 0 && b.total+size > b.limit {
			// Kept buffers too small for this one: drop one for room.
			b.total -= cap(*b.free[0])
			b.free = b.free[1:]
			continue
		}
		if b.total+size <= b.limit || b.total == 0 {
			b.total += size
			buf := make([]byte, 0, size)
			return &buf
		}
		if bigBufWaitHook != nil {
			bigBufWaitHook()
		}
		b.freed.Wait()
	}
}

// bigBufWaitHook, when set (tests only), runs each time get is about to
// wait for the budget.
var bigBufWaitHook func()

// getMore is get for a caller that holds a buffer from get already: it
// does not wait, since the buffer it holds may be what the budget waits
// for (every holder waiting for a second would never end), and goes past
// the limit instead; put gives the extra back to the budget.
func (b *bigBufs) getMore(n int) *[]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, buf := range b.free {
		if cap(*buf) >= n {
			b.free = append(b.free[:i], b.free[i+1:]...)
			*buf = (*buf)[:0]
			return buf
		}
	}
	size := max(n, bigBuf)
	b.total += size
	buf := make([]byte, 0, size)
	return &buf
}

// put returns a buffer from get. One larger than bigBuf (a tree or list
// blob over 2 MiB), or one past the limit (getMore), is dropped, not
// kept: kept, it would hold the budget past its limit for the rest of the
// pipeline's life.
func (b *bigBufs) put(buf *[]byte) {
	b.mu.Lock()
	if cap(*buf) > bigBuf || b.total > b.limit {
		b.total -= cap(*buf)
	} else {
		b.free = append(b.free, buf)
	}
	b.mu.Unlock()
	b.freed.Broadcast()
}

// inUse is the capacity of the buffers handed out and not returned.
func (b *bigBufs) inUse() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.total
	for _, buf := range b.free {
		n -= cap(*buf)
	}
	return n
}
