package store

// A media phase leaves big buffers behind: up to bigBudget kept for reuse
// by the pipeline (bigBufs) and, per worker, a sealing buffer grown to a
// 2 MiB chunk (and a compression scratch, for a large document's). A
// database's pages sealed after it never use them, yet they stayed live
// through its pages, the phase with the largest live heap: ~10 MB of the
// 10 GB tree's 82 MB at two cores (docs/benchmarks.md, "Twenty-ninth
// session"), which the soft memory limit counts. So once leftoverAfter
// jobs in a row went without a big buffer, they go; a later big chunk
// makes them again, once.
const leftoverAfter = 64

// smallBufCap bounds what a worker's sealing buffer or scratch grows to
// for jobs without a big buffer: a copy of at most bigChunk or a run of
// pages of at most maxGroupPlain, compressed (zstd's bound) and sealed, or
// a group decoded after the dictionary for its check (zprefix's Room: the
// dictionary, at most dictWindowSize, then the group).
const smallBufCap = dictWindowSize + maxGroupPlain + 64<<10

// workerBufs are one sealing worker's reusable buffers.
type workerBufs struct {
	seal, scratch []byte
	small         int // jobs in a row without a big buffer
}

// after counts a job the worker sealed (big: with a big buffer) and lets
// buffers grown past smallBufCap go after leftoverAfter small ones.
func (b *workerBufs) after(big bool) {
	if big {
		b.small = 0
		return
	}
	if b.small++; b.small != leftoverAfter {
		return
	}
	if cap(b.seal) > smallBufCap {
		b.seal = nil
	}
	if cap(b.scratch) > smallBufCap {
		b.scratch = nil
	}
}

// dropKept lets the big buffers kept for reuse go; those in use come back
// to the budget as before.
func (b *bigBufs) dropKept() {
	b.mu.Lock()
	for _, buf := range b.free {
		b.total -= cap(*buf)
	}
	b.free = nil
	b.mu.Unlock()
	b.freed.Broadcast() // the budget has room again
}
