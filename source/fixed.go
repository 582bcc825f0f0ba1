package source

import (
	"errors"
	"fmt"
	"io"
)

// MediaChunk is where a file that is already compressed (isIncompressible)
// is cut: every MediaChunk bytes from its start, the last chunk shorter.
// Such a file is written once and never edited in place, so content-
// defined boundaries buy it nothing: an identical copy, or the file grown
// at its end, has the same chunks up to where it differs either way. What
// fixed offsets give up is an insertion inside the file, which moves every
// boundary after it (docs/format.md, "Chunk sizes"). The store's big
// buffers are this size (store/bigbufs.go).
const MediaChunk = 2 << 20

// FixedContent is the Content of a file cut at fixed offsets: every
// ChunkSize bytes from its start. Its consumer may read it with ReadChunk
// into buffers of its own, one chunk (or the head of one) at a time,
// instead of Next, which copies into the source's buffer; not both.
type FixedContent interface {
	Content
	// ChunkSize is the distance between the cuts.
	ChunkSize() int
	// Size is the file's length when it was opened: a read that finds
	// another fails with ErrChanged.
	Size() int64
	// ReadChunk reads the next len(p) bytes of the file into p. It returns
	// io.EOF with the last of them (n may be 0), once the file is checked
	// as Next checks it; a failure (ErrChanged among them) comes with n 0.
	ReadChunk(p []byte) (n int, err error)
}

// fixedContent streams a file that is already compressed in chunks cut at
// fixed offsets (MediaChunk).
type fixedContent struct {
	fileReader
	bufs *bufPool
	buf  *[]byte // Next's, from bufs when first needed
}

var _ FixedContent = (*fixedContent)(nil)

func (c *fixedContent) Incompressible() bool { return true }
func (c *fixedContent) ChunkSize() int       { return MediaChunk }
func (c *fixedContent) Size() int64          { return c.before.Size }

func (c *fixedContent) ReadChunk(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := io.ReadFull(&c.rd, p)
	switch {
	case err == nil:
		if c.rd.n < c.before.Size {
			return n, nil
		}
		// At the length the file had: the next read must find its end.
		var probe [1]byte
		if m, err := io.ReadFull(&c.rd, probe[:]); m > 0 {
			c.changed = true
			return 0, c.fail(fmt.Errorf("%q grew while it was read: %w", c.rel, ErrChanged))
		} else if !errors.Is(err, io.EOF) {
			return 0, c.fail(fmt.Errorf("read %q: %w", c.rel, err))
		}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
	default:
		return 0, c.fail(fmt.Errorf("read %q: %w", c.rel, err))
	}
	if err := c.finish(); err != io.EOF {
		return 0, err
	}
	return n, io.EOF
}

// Next reads the next chunk, up to the next multiple of MediaChunk or the
// file's length, into the source's buffer.
func (c *fixedContent) Next() (Chunk, error) {
	if c.err != nil {
		return Chunk{}, c.err
	}
	if c.buf == nil {
		c.buf = c.bufs.get()
	}
	want := min(int64(MediaChunk)-c.rd.n%MediaChunk, max(c.before.Size-c.rd.n, 0))
	n, err := c.ReadChunk((*c.buf)[:want])
	if n > 0 {
		// An io.EOF is sticky in c.err: the next call returns it.
		return Chunk{Data: (*c.buf)[:n]}, nil
	}
	return Chunk{}, err
}

// release returns Next's buffer.
func (c *fixedContent) release() {
	if c.buf != nil {
		c.bufs.put(c.buf)
		c.buf = nil
	}
}

// bufPool keeps the buffers fixedContent.Next reads into, at most keep of
// them, like cdcPool; a consumer that reads with ReadChunk needs none.
type bufPool struct{ free chan *[]byte }

func newBufPool(keep int) *bufPool { return &bufPool{free: make(chan *[]byte, max(1, keep))} }

func (p *bufPool) get() *[]byte {
	select {
	case b := <-p.free:
		return b
	default:
		b := make([]byte, MediaChunk)
		return &b
	}
}

func (p *bufPool) put(b *[]byte) {
	select {
	case p.free <- b:
	default:
	}
}
