package store

import (
	"encoding/binary"
	"slices"
	"unsafe"
)

// A list token's references are written in ChunkRef's own memory layout
// (the id, then the length as a little-endian uint32), at an offset within
// the token that is a multiple of refAlign, so that on a little-endian host
// the decoded references are views of the token's bytes: the daemon keeps
// a database's references once, in the file cache's token, not a second
// time decoded in the Store's memo (docs/benchmarks.md, "One copy of a
// database's references").

// fixedRefsMark stands where tokens before it have their reference count:
// a uvarint that overflows 64 bits, which no encoder writes and which
// binary.Uvarint (so an older chatsafe) rejects, taking the token as stale.
var fixedRefsMark = [binary.MaxVarintLen64]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}

const (
	refSize  = int(unsafe.Sizeof(ChunkRef{})) // 36: no padding (token.go)
	refAlign = 4
)

// A view of refAlign-aligned bytes is an aligned ChunkRef.
var _ [refAlign - unsafe.Alignof(ChunkRef{})]byte

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// appendFixedRefs appends fixedRefsMark, l's count, zero bytes up to an
// offset in the token (b) that is a multiple of refAlign, and l's
// references. It returns the bytes and where the references start.
func appendFixedRefs(b []byte, l RefList) ([]byte, int) {
	b = append(b, fixedRefsMark[:]...)
	b = binary.AppendUvarint(b, uint64(l.n))
	for len(b)%refAlign != 0 {
		b = append(b, 0)
	}
	at := len(b)
	for _, blk := range l.blocks {
		if littleEndian {
			b = append(b, refBytes(blk)...)
			continue
		}
		for _, r := range blk {
			b = binary.LittleEndian.AppendUint32(append(b, r.ID[:]...), r.Len)
		}
	}
	return b, at
}

// decodeFixedRefs reads what appendFixedRefs wrote after the mark; d's
// bytes are the last of a token of tokenLen bytes.
func decodeFixedRefs(d *decoder, tokenLen int) RefList {
	n := d.count(refSize)
	pad := d.raw(-(tokenLen - len(d.b)) & (refAlign - 1))
	if slices.ContainsFunc(pad, func(c byte) bool { return c != 0 }) {
		d.fail("padding is not zero")
	}
	raw := d.raw(n * refSize)
	if d.err != nil || n == 0 {
		return RefList{}
	}
	for i := refSize - 4; i < len(raw); i += refSize {
		if binary.LittleEndian.Uint32(raw[i:]) > 1<<31 {
			d.fail("chunk too large")
			return RefList{}
		}
	}
	if l, ok := viewRefs(raw, n); ok {
		return l
	}
	b := NewRefBuilder(n, nil)
	for i := 0; i < len(raw); i += refSize {
		r := b.Next()
		copy(r.ID[:], raw[i:])
		r.Len = binary.LittleEndian.Uint32(raw[i+refSize-4:])
	}
	return b.List()
}

// viewRefs returns the n references raw holds in ChunkRef's layout as a
// list of views of raw, in blocks of refBlockLen. It reports false when
// they must be copied instead (viewOf).
func viewRefs(raw []byte, n int) (RefList, bool) {
	all, ok := viewOf(raw, n)
	if !ok {
		return RefList{}, false
	}
	blocks := make([][]ChunkRef, 0, (n+refBlockLen-1)/refBlockLen)
	for lo := 0; lo < n; lo += refBlockLen {
		hi := min(lo+refBlockLen, n)
		blocks = append(blocks, all[lo:hi:hi])
	}
	return RefList{blocks: blocks, n: n}, true
}

// viewOf returns raw's first n references, as ChunkRef's layout holds
// them, as a slice of raw's memory no larger than they are (an append
// never writes into raw). It reports false when there are none, the host
// is big-endian or raw's first byte is not aligned for a ChunkRef.
func viewOf(raw []byte, n int) ([]ChunkRef, bool) {
	p := unsafe.Pointer(unsafe.SliceData(raw))
	if !littleEndian || n < 1 || len(raw)/refSize < n || uintptr(p)%unsafe.Alignof(ChunkRef{}) != 0 {
		return nil, false
	}
	return unsafe.Slice((*ChunkRef)(p), n), true
}

// viewsIn returns l as views of the token p, whose references (l's, as
// appendFixedRefs wrote them) start at at; l itself when they cannot be.
func viewsIn(p []byte, at int, l RefList) RefList {
	if at < 0 || at > len(p) {
		return l
	}
	if v, ok := viewRefs(p[at:], l.n); ok {
		return v
	}
	return l
}

// rebase returns l with the blocks that are views of from made views of
// the same bytes in to, a copy of from at its start (a token amended into
// a new buffer): else they would keep from's bytes alive beside to's.
func rebase(l RefList, from, to []byte) RefList {
	if len(from) == 0 || len(to) < len(from) {
		return l
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(from)))
	hi := lo + uintptr(len(from))
	return l.replaceBlocks(func(_ int, blk []ChunkRef) ([]ChunkRef, bool) {
		a := uintptr(unsafe.Pointer(unsafe.SliceData(blk)))
		if len(blk) == 0 || a < lo || a+uintptr(len(blk)*refSize) > hi {
			return nil, false
		}
		return viewOf(to[a-lo:], len(blk))
	})
}
