package store

import (
	"slices"
	"unsafe"
)

// A database read incrementally is a new version that differs from the
// previous one in a few pages out of a quarter of a million per GB. Its
// chunk references are kept in blocks that a version shares with the one
// it was built on: a one-page change copies one block (9 KiB) and a slice
// of block headers (24 KiB per GB), not 9 MB of references per GB, which
// the collector then had to reclaim every cycle (docs/benchmarks.md, "The
// daemon's peak RSS on the large corpus").

// refBlockLen is the references a block holds: a run list's (runListChunks),
// so each segment makeContent stores as a run list (or as four lists) is
// one block.
const refBlockLen = runListChunks

// RefList is a file's chunk references in order, in blocks of refBlockLen
// (the last one up to Len). Blocks may be shared with other versions'
// lists: a RefList is never modified once built (RefBuilder.List), which
// is what makes sharing them safe.
type RefList struct {
	blocks [][]ChunkRef
	n      int
}

// RefsOf returns a list of a copy of refs.
func RefsOf(refs []ChunkRef) RefList {
	b := NewRefBuilder(len(refs), nil)
	for _, r := range refs {
		*b.Next() = r
	}
	return b.List()
}

// Len is the number of references.
func (l RefList) Len() int { return l.n }

// At returns the reference at index i (0 ≤ i < Len).
func (l RefList) At(i int) ChunkRef { return l.blocks[i/refBlockLen][i%refBlockLen] }

// Slice returns a copy of the references.
func (l RefList) Slice() []ChunkRef {
	out := make([]ChunkRef, 0, l.n)
	for _, blk := range l.blocks {
		out = append(out, blk...)
	}
	return out
}

// flat returns the references in one slice: the list's own block when it
// has one (never to be modified), else a copy.
func (l RefList) flat() []ChunkRef {
	if len(l.blocks) == 1 {
		return l.blocks[0]
	}
	return l.Slice()
}

// replaceBlocks returns l with each block k for which with returns a
// replacement and true replaced; l itself, not a copy, when none is.
func (l RefList) replaceBlocks(with func(k int, blk []ChunkRef) ([]ChunkRef, bool)) RefList {
	var blocks [][]ChunkRef
	for k, blk := range l.blocks {
		v, ok := with(k, blk)
		if !ok {
			continue
		}
		if blocks == nil {
			blocks = slices.Clone(l.blocks)
		}
		blocks[k] = v
	}
	if blocks == nil {
		return l
	}
	return RefList{blocks: blocks, n: l.n}
}

// sameBlock reports whether a and b are the same memory (a shared block).
func sameBlock(a, b []ChunkRef) bool {
	return unsafe.SliceData(a) == unsafe.SliceData(b)
}

// RefBuilder builds a RefList: references appended, carried over from a
// previous version (sharing its blocks while they stay unchanged), or set
// again. The pointers Next and Set hand out stay valid while the builder
// goes on, so the sealing workers fill them in meanwhile: a block moves
// only when a small first block grows, after beforeMove. A block the
// builder shares is copied before it writes into it.
type RefBuilder struct {
	blocks     [][]ChunkRef
	owned      []bool // block k was made by this builder (else shared: read only)
	n          int
	first      int    // the first block's capacity
	beforeMove func() // waits for the writers into the blocks; nil: none
}

// NewRefBuilder returns a builder for about n references (a small file's
// references take a block of its size, not refBlockLen). beforeMove, if
// not nil, is called before a block the builder handed out pointers into
// moves.
func NewRefBuilder(n int, beforeMove func()) *RefBuilder {
	n = min(max(n, 1), 1<<30)
	k := (n + refBlockLen - 1) / refBlockLen
	return &RefBuilder{
		blocks:     make([][]ChunkRef, 0, k),
		owned:      make([]bool, 0, k),
		first:      min(n, refBlockLen),
		beforeMove: beforeMove,
	}
}

// builderOn returns a builder whose references are l's, in l's blocks
// (shared: copied before they are written).
func builderOn(l RefList) *RefBuilder {
	return &RefBuilder{
		blocks: slices.Clone(l.blocks),
		owned:  make([]bool, len(l.blocks)),
		n:      l.n,
		first:  min(max(l.n, 1), refBlockLen),
	}
}

// Len is the number of references so far.
func (b *RefBuilder) Len() int { return b.n }

// At returns the reference at index i (0 ≤ i < Len); one a worker is still
// filling in may not be read.
func (b *RefBuilder) At(i int) ChunkRef { return b.blocks[i/refBlockLen][i%refBlockLen] }

// Next appends a zero reference and returns where it goes.
func (b *RefBuilder) Next() *ChunkRef {
	k, j := b.n/refBlockLen, b.n%refBlockLen
	if j == 0 {
		c := refBlockLen
		if k == 0 {
			c = b.first
		}
		b.blocks = append(b.blocks, make([]ChunkRef, 0, c))
		b.owned = append(b.owned, true)
	}
	blk := b.writable(k)
	if len(blk) == cap(blk) {
		// Only a first block made (or copied) small for a small file
		// gets here.
		if b.beforeMove != nil {
			b.beforeMove()
		}
		blk = append(make([]ChunkRef, 0, min(2*cap(blk), refBlockLen)), blk...)
	}
	blk = append(blk, ChunkRef{})
	b.blocks[k] = blk
	b.n++
	return &blk[j]
}

// CarryRun appends base's next n references (n ≥ 1: the ones at Len and
// on), sharing base's blocks while this version's block holds nothing
// else, and returns the bytes they stand for. A shared block is sliced to
// its length in capacity too (as Truncate does): base's may be a view of a
// file cache token (tokenrefs.go), and an append to it must never write
// into the token's later references. A database read
// incrementally carries its unchanged pages in runs, a block at a time:
// one page at a time, a one-message cycle on a 1 GB database spent most
// of its CPU here and in delivering them (docs/benchmarks.md, "Carried
// pages in runs"). It reports false, appending nothing, when base has
// fewer than Len+n references.
func (b *RefBuilder) CarryRun(base RefList, n int) (int64, bool) {
	if n < 1 || n > base.n-b.n {
		return 0, false
	}
	var bytes int64
	for n > 0 {
		k, j := b.n/refBlockLen, b.n%refBlockLen
		from := base.blocks[k] // refBlockLen references, but for the last block
		m := min(n, len(from)-j)
		run := from[j : j+m]
		for _, r := range run {
			bytes += int64(r.Len)
		}
		switch {
		case j == 0:
			// A new block: base's, until something else is written into it.
			b.blocks = append(b.blocks, from[:m:m])
			b.owned = append(b.owned, false)
			b.n += m
		case !b.owned[k] && sameBlock(b.blocks[k], from):
			b.blocks[k] = from[: j+m : j+m]
			b.n += m
		default:
			for _, r := range run {
				*b.Next() = r
			}
		}
		n -= m
	}
	return bytes, true
}

// Set returns where the reference at index i (0 ≤ i < Len) goes.
func (b *RefBuilder) Set(i int) *ChunkRef {
	return &b.writable(i / refBlockLen)[i%refBlockLen]
}

// Truncate cuts the references to the first n (n ≤ Len).
func (b *RefBuilder) Truncate(n int) {
	k := (n + refBlockLen - 1) / refBlockLen
	clear(b.blocks[k:]) // the dropped blocks are garbage
	b.blocks, b.owned, b.n = b.blocks[:k], b.owned[:k], n
	if k > 0 {
		m := n - (k-1)*refBlockLen
		if b.owned[k-1] {
			b.blocks[k-1] = b.blocks[k-1][:m]
		} else {
			b.blocks[k-1] = b.blocks[k-1][:m:m]
		}
	}
}

// List returns the references. The builder must not be used afterwards:
// the list's blocks are shared from then on.
func (b *RefBuilder) List() RefList {
	return RefList{blocks: b.blocks, n: b.n}
}

// writable returns block k, copied first if it is shared: into a whole
// block, or for the first one into a block of the shared one's size (only
// a small file's first block is smaller, and Next grows it when it must).
// A shared block's capacity says nothing past the first: a view of a file
// cache token (token.go) is only as large as its references.
func (b *RefBuilder) writable(k int) []ChunkRef {
	if !b.owned[k] {
		blk := b.blocks[k]
		c := refBlockLen
		if k == 0 {
			c = max(cap(blk), min(2*len(blk), refBlockLen))
		}
		b.blocks[k] = append(make([]ChunkRef, 0, c), blk...)
		b.owned[k] = true
	}
	return b.blocks[k]
}
