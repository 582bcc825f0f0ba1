// Package zprefix decodes zstd frames compressed with a raw-content
// dictionary (zstd.WithEncoderDictRaw) without giving the dictionary to
// the decoder.
//
// RFC 8878 defines a raw-content dictionary as content that comes before
// the frame: matches may reach back into it, and nothing else of the
// frame depends on it (no entropy tables; the repeat offsets start at 1,
// 4 and 8, as in any frame). So a frame that holds that content as raw
// blocks, followed by the original frame's blocks, decodes to the
// content and then to exactly what the original decodes to. The new
// frame's window is the content and the frame together, so every match
// the original may make into the content stays in reach (the RFC lets a
// frame reach its dictionary only while its output is within its window;
// the store's windows, 512 KiB and 128 KiB, hold a dictionary and a frame
// whole). The rewrite is never stricter than the dictionary decoder: it
// only leaves out the original's window descriptor.
//
// Why: klauspost/compress (v1.20.5) runs its assembly sequence decoder
// only for frames without a dictionary (decodeSyncSimple declines the
// rest) and its Go decoder for the others. Rewritten this way, a group of
// 64 database pages with a 256 KiB dictionary decodes in 0.55–0.65 of the
// time, copies included (docs/benchmarks.md, "Twenty-third session").
//
// Frames this package does not recognise as one plain frame with the
// dictionary's id (a checksum, bytes after the last block, another id)
// are left to the caller's dictionary decoder, which decides as before.
package zprefix

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/klauspost/compress/zstd"
)

const (
	frameMagic = 0xFD2FB528
	// maxBlock is the largest block's content (RFC 8878,
	// Block_Maximum_Size).
	maxBlock = 128 << 10
	// fhdSingleFCS4 is the rewritten frame's header descriptor: Single_Segment (so the window
	// is the content size, dictionary included), a 4-byte
	// Frame_Content_Size, no dictionary id, no checksum.
	fhdSingleFCS4 = 2<<6 | 1<<5
	// A frame is rewritten only if it decodes to at least 1/minShare of
	// the dictionary's size: each rewrite copies the dictionary twice
	// (into the frame, and out of it as the history), and for a 4 KiB
	// page with a 256 KiB dictionary that took 2.3x the dictionary
	// decoder's time; at a quarter, 0.8–0.9x (BenchmarkDecodeShare).
	minShare = 4
	// maxPooled bounds the buffers kept for reuse (inputs, outputs): a
	// dictionary's content and a frame of up to a few hundred KiB.
	maxPooled = 1 << 20
)

// Dict is a raw-content dictionary, prepared for rewriting the frames
// made with it. It is safe for concurrent use.
type Dict struct {
	id      uint32 // the Dictionary_ID its frames carry (never 0)
	content []byte // read-only
}

// New prepares content, the dictionary whose frames carry id, for
// DecodeAll. content is not copied: it must not change while the Dict
// is in use.
func New(id uint32, content []byte) *Dict {
	return &Dict{id: id, content: content}
}

// appendPrefix appends to b the rewritten frame's header, stating
// total bytes of content, and d's content as raw blocks.
func (d *Dict) appendPrefix(b []byte, total int) []byte {
	b = binary.LittleEndian.AppendUint32(b, frameMagic)
	b = append(b, fhdSingleFCS4)
	b = binary.LittleEndian.AppendUint32(b, uint32(total))
	for c := d.content; len(c) > 0; {
		k := min(len(c), maxBlock)
		h := uint32(k) << 3 // Last_Block 0, Block_Type 0 (raw)
		b = append(b, byte(h), byte(h>>8), byte(h>>16))
		b = append(b, c[:k]...)
		c = c[k:]
	}
	return b
}

// slack is room left past the end of what a frame decodes to. klauspost's
// assembly sequence decoder copies in 16-byte steps that may write past a
// copy's end; a block that could come within 32 bytes
// (compressedBlockOverAlloc) of the destination's capacity runs its
// bounds-exact variant instead (useSafeDecodeSync, klauspost/compress
// v1.20.5). Without slack that was the last of a 256 KiB group's two
// blocks; with it a group decodes in 0.86x the time (BenchmarkDecodeGroup,
// five alternated runs, session 24). It is room only: the length checks
// stay exact. A caller's destination with less room past the result is
// still decoded in place, its last block on the bounds-exact variant.
const slack = 32

// inputs are the rewritten frames' buffers, and outputs what they decode
// to when the destination has no room for it, reused.
var inputs, outputs = sync.Pool{New: func() any { return new([]byte) }}, sync.Pool{New: func() any { return new([]byte) }}

// ErrNotRewritten says a frame is not one DecodeAll rewrites; the
// caller decodes it with its dictionary decoder instead.
var ErrNotRewritten = errors.New("zprefix: frame not rewritten")

// DecodeAll decodes frame, made with d, with dec, a decoder that has no
// dictionaries and limits DecodeAll to its destination's capacity
// (zstd.WithDecodeAllCapLimit). What frame decodes to, exactly n bytes,
// is appended to dst. It is decoded after the dictionary's content: in
// dst's spare capacity if that holds both (which then holds whatever the
// decoding left there, up to the dictionary's size and slack past the
// result), else in a buffer of this package's, and then copied. A frame
// that decodes to more or fewer than n bytes is an error, as is one that
// does not decode. ErrNotRewritten, with nothing decoded, says frame is not
// one frame naming d's id, without a checksum, stating no content size
// or n; or that n is negative, too large for a frame, or less than a
// quarter of the dictionary's size.
func (d *Dict) DecodeAll(dec *zstd.Decoder, frame, dst []byte, n int) ([]byte, error) {
	size := len(d.content)
	if d.Room(n) == 0 {
		return nil, ErrNotRewritten
	}
	blocks, err := d.blocks(frame, n)
	if err != nil {
		return nil, err
	}
	total := size + n
	ip := inputs.Get().(*[]byte)
	defer put(&inputs, ip)
	in := append(d.appendPrefix((*ip)[:0], total), blocks...)
	*ip = in
	l := len(dst)
	if room := min(cap(dst)-l, total+slack); room >= total {
		// After dst's bytes, not appended to them: dec's memory limit
		// would count them.
		out, err := decodeTotal(dec, in, dst[l:l:l+room], size, total)
		if err != nil {
			return nil, err
		}
		if total > 0 && &dst[:l+1][l] == &out[0] {
			g := dst[:l+total]
			copy(g[l:], g[l+size:])
			return g[:l+n], nil
		}
		return append(dst, out[size:]...), nil
	}
	op := outputs.Get().(*[]byte)
	defer put(&outputs, op)
	if cap(*op) < total+slack {
		*op = make([]byte, 0, total+slack)
	}
	out, err := decodeTotal(dec, in, (*op)[:0:total+slack], size, total)
	if err != nil {
		return nil, err
	}
	return append(dst, out[size:]...), nil
}

// Room is the spare capacity past its length that a destination needs
// for DecodeAll to decode a frame of n bytes in place: the dictionary's
// size, n and the slack. It is 0 for an n DecodeAll declines
// (ErrNotRewritten).
func (d *Dict) Room(n int) int {
	size := len(d.content)
	if n < 0 || uint64(n) > math.MaxUint32-uint64(size) || n < size/minShare {
		return 0
	}
	return size + n + slack
}

// decodeTotal decodes the rewritten frame in into dst, where it must take
// exactly total bytes: the dictionary's size bytes, then the frame's.
// dst's capacity bounds the decoding (zstd.WithDecodeAllCapLimit).
func decodeTotal(dec *zstd.Decoder, in, dst []byte, size, total int) ([]byte, error) {
	out, err := dec.DecodeAll(in, dst)
	if err != nil {
		return nil, fmt.Errorf("zprefix: %w", err)
	}
	if len(out) != total {
		return nil, fmt.Errorf("zprefix: frame decodes to %d bytes, want %d", len(out)-size, total-size)
	}
	return out, nil
}

// put returns b to p unless it grew past maxPooled.
func put(p *sync.Pool, b *[]byte) {
	if cap(*b) <= maxPooled {
		*b = (*b)[:0]
		p.Put(b)
	}
}

// blocks returns frame's blocks: the bytes after its header, up to the
// end of its last block, which must be frame's end. It returns
// ErrNotRewritten for anything but one frame with d's dictionary id, no
// checksum, and no content size or n.
func (d *Dict) blocks(frame []byte, n int) ([]byte, error) {
	if len(frame) < 5 || binary.LittleEndian.Uint32(frame) != frameMagic {
		return nil, ErrNotRewritten
	}
	fhd := frame[4]
	single := fhd&(1<<5) != 0
	if fhd&(1<<3) != 0 || fhd&(1<<2) != 0 { // reserved bit, checksum
		return nil, ErrNotRewritten
	}
	pos := 5
	if !single {
		pos++ // Window_Descriptor
	}
	idLen := [4]int{0, 1, 2, 4}[fhd&3]
	fcsLen := [4]int{0, 2, 4, 8}[fhd>>6]
	if fcsLen == 0 && single {
		fcsLen = 1
	}
	if pos+idLen+fcsLen > len(frame) || idLen == 0 {
		return nil, ErrNotRewritten
	}
	var id uint32
	for i := range idLen {
		id |= uint32(frame[pos+i]) << (8 * i)
	}
	pos += idLen
	if id != d.id {
		return nil, ErrNotRewritten
	}
	if fcsLen > 0 {
		var fcs uint64
		for i := range fcsLen {
			fcs |= uint64(frame[pos+i]) << (8 * i)
		}
		if fcsLen == 2 {
			fcs += 256
		}
		if fcs != uint64(n) {
			return nil, ErrNotRewritten
		}
		pos += fcsLen
	}
	start := pos
	for {
		if pos+3 > len(frame) {
			return nil, ErrNotRewritten
		}
		h := uint32(frame[pos]) | uint32(frame[pos+1])<<8 | uint32(frame[pos+2])<<16
		pos += 3
		switch size := int(h >> 3); (h >> 1) & 3 {
		case 0, 2: // raw, compressed
			pos += size
		case 1: // RLE: one byte
			pos++
		default:
			return nil, ErrNotRewritten
		}
		if pos > len(frame) {
			return nil, ErrNotRewritten
		}
		if h&1 == 1 {
			break
		}
	}
	if pos != len(frame) {
		return nil, ErrNotRewritten
	}
	return frame[start:], nil
}
