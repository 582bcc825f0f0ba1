package backup

import (
	"io"

	"github.com/chatsafe/chatsafe/source"
)

// splitMin is the smallest piece fixedChunks cuts to fill a delta: less
// room than that is left as padding.
const splitMin = 64 << 10

// fixedChunks reads a file cut at fixed offsets (an already-compressed
// one) straight into buffers the writer's sealing workers take over, so
// its bytes are copied once, by the read, on their way to the seal.
//
// A chunk that would not fit in the delta being written is cut at the
// room left (Writer.RoomFor), so that the delta is filled: a delta is cut
// before a blob that does not fit, and what is left of it is padding, up
// to a whole chunk (2 MiB) per full delta, which outweighed what larger
// chunks saved (docs/benchmarks.md, "Media in larger chunks"). The chunks
// after it still end at multiples of the chunk size; that one cut is not
// where the file's other copies are cut, so an identical copy, or the
// file read again without the file cache, stores that chunk whole again:
// about one a full delta. It returns the bytes read.
func (b *run) fixedChunks(c source.FixedContent, f *fileRefs, inline bool) (int64, error) {
	step, size := int64(c.ChunkSize()), c.Size()
	var off int64
	for chunks := 0; ; chunks++ {
		if chunks%64 == 0 {
			if err := b.ctx.Err(); err != nil {
				return off, err
			}
		}
		// Up to the next cut or the file's end (when the file has the
		// length it had, the read finds its end with the last chunk).
		want := min(step-off%step, max(size-off, 0))
		if want > splitMin {
			want = b.w.RoomFor(want, splitMin)
		}
		if want == 0 {
			_, err := c.ReadChunk(nil)
			if err == io.EOF {
				return off, nil
			}
			return off, err
		}
		buf := b.w.ChunkBuffer(int(want))
		n, err := c.ReadChunk((*buf)[:want])
		if err != nil && err != io.EOF || n == 0 {
			b.w.PutChunkBuffer(buf)
		} else {
			*buf = (*buf)[:n]
			if serr := b.submitFixed(buf, f, inline); serr != nil {
				return off, serr
			}
			off += int64(n)
		}
		if err == io.EOF {
			return off, nil
		}
		if err != nil {
			return off, err
		}
	}
}

// submitFixed hands the writer a chunk fixedChunks read into buf. The
// room it was sized to may have been taken while it was read (by another
// file's blob): then it is cut again at the room left, its head copied
// into a buffer of its own (which does not wait for the big buffers: buf
// is one).
func (b *run) submitFixed(buf *[]byte, f *fileRefs, inline bool) error {
	if n := int64(len(*buf)); n > splitMin {
		if room := b.w.RoomFor(n, splitMin); room < n {
			head := b.w.ChunkBufferMore(int(room))
			*head = append(*head, (*buf)[:room]...)
			if err := b.w.ChunkOwned(head, true, inline, f.next(), &f.pending); err != nil {
				b.w.PutChunkBuffer(buf)
				return err
			}
			*buf = (*buf)[:copy(*buf, (*buf)[room:])]
		}
	}
	return b.w.ChunkOwned(buf, true, inline, f.next(), &f.pending)
}
