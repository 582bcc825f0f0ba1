package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	chunkers "github.com/PlakarKorp/go-cdc-chunkers"
	_ "github.com/PlakarKorp/go-cdc-chunkers/chunkers/fastcdc" // registers the FastCDC implementations
)

// Content-defined chunking parameters. cdcAlgorithm is the spec-faithful
// FastCDC variant; the legacy "fastcdc" name uses masks tuned for 8 KiB
// averages and would ignore our average size.
const cdcAlgorithm = "fastcdc-v1.0.0"

// cdcSizes are a class of files' chunk sizes: minimum, average, maximum.
type cdcSizes struct{ min, avg, max int }

// cdcOther cuts databases read as plain files, text, anything that may be
// edited in place or compressed: small chunks deduplicate edits. Files
// that are already compressed are cut at fixed offsets instead
// (MediaChunk).
var cdcOther = cdcSizes{16 << 10, 64 << 10, 256 << 10}

// cdc is a reusable FastCDC chunker of one class of sizes: one scan buffer
// for every file of that class.
type cdc struct {
	sizes   cdcSizes
	buf     []byte
	chunker *chunkers.Chunker
}

func (c *cdc) reset(r io.Reader) error {
	if c.chunker != nil {
		c.chunker.Reset(r)
		return nil
	}
	if c.buf == nil {
		// Room beyond the maximum lets the reader refill in large strides.
		c.buf = make([]byte, 2*c.sizes.max)
	}
	ch, err := chunkers.NewChunkerBuffer(cdcAlgorithm, r,
		&chunkers.ChunkerOpts{MinSize: c.sizes.min, NormalSize: c.sizes.avg, MaxSize: c.sizes.max}, c.buf)
	if err != nil {
		return fmt.Errorf("set up content-defined chunking: %w", err)
	}
	c.chunker = ch
	return nil
}

// cdcPool keeps the chunkers of one class for reuse, at most keep of
// them. Unlike a sync.Pool, a collection does not empty it: under the
// CLI's soft memory limit the collector runs several times a second.
type cdcPool struct {
	sizes cdcSizes
	free  chan *cdc
}

func newCDCPool(sizes cdcSizes, keep int) *cdcPool {
	return &cdcPool{sizes: sizes, free: make(chan *cdc, max(1, keep))}
}

func (p *cdcPool) get() *cdc {
	select {
	case c := <-p.free:
		return c
	default:
		return &cdc{sizes: p.sizes}
	}
}

func (p *cdcPool) put(c *cdc) {
	select {
	case p.free <- c:
	default:
	}
}

// ctxReader stops a long read when the scan is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
	n   int64
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.r.Read(p)
	r.n += int64(n)
	return n, err
}

// fileReader reads a regular file once, front to back, and checks after
// its last byte that the file is still the one that was opened.
type fileReader struct {
	rel, abs string
	f        *os.File
	before   statID
	rd       ctxReader
	// beforeVerify is a test hook run after the last byte was read.
	beforeVerify func(rel string)

	err      error // sticky: io.EOF once verified, or the failure
	verified bool
	changed  bool
}

func newFileReader(ctx context.Context, rel, abs string, f *os.File, before statID, hook func(string)) fileReader {
	return fileReader{rel: rel, abs: abs, f: f, before: before, rd: ctxReader{ctx: ctx, r: f}, beforeVerify: hook}
}

// finish checks the file once its last byte was read: io.EOF if it is
// the one that was opened, else the failure.
func (c *fileReader) finish() error {
	if err := c.verify(); err != nil {
		return c.fail(err)
	}
	c.verified = true
	c.err = io.EOF
	c.close()
	return io.EOF
}

// verify checks that the bytes read are the whole file as it was opened: the
// same length, and the path still names the same, unmodified inode.
func (c *fileReader) verify() error {
	if c.beforeVerify != nil {
		c.beforeVerify(c.rel)
	}
	after, err := lstatID(c.abs)
	if err != nil {
		return fmt.Errorf("re-check %q after reading: %w", c.rel, err)
	}
	if c.rd.n != c.before.Size || after != c.before {
		c.changed = true
		return fmt.Errorf("%q: %w", c.rel, ErrChanged)
	}
	return nil
}

func (c *fileReader) fail(err error) error {
	c.err = err
	c.close()
	return err
}

func (c *fileReader) close() {
	if c.f != nil {
		c.f.Close()
		c.f = nil
	}
}

// fileContent streams a regular file as content-defined chunks.
type fileContent struct {
	fileReader
	chunks     *cdc
	pendingEOF bool
}

func newFileContent(r fileReader, chunks *cdc) (*fileContent, error) {
	c := &fileContent{fileReader: r, chunks: chunks}
	if err := chunks.reset(&c.rd); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *fileContent) Incompressible() bool { return false }

func (c *fileContent) Next() (Chunk, error) {
	if c.err != nil {
		return Chunk{}, c.err
	}
	if !c.pendingEOF {
		data, err := c.chunks.chunker.Next()
		switch {
		case err == nil:
			if len(data) > 0 {
				return Chunk{Data: data}, nil
			}
			c.pendingEOF = true
		case errors.Is(err, io.EOF):
			// The chunker returns the last piece together with io.EOF.
			c.pendingEOF = true
			if len(data) > 0 {
				return Chunk{Data: data}, nil
			}
		default:
			return Chunk{}, c.fail(fmt.Errorf("read %q: %w", c.rel, err))
		}
	}
	return Chunk{}, c.finish()
}
