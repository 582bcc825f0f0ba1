package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/chatsafe/chatsafe/remotes"
)

// rangeReader reads one fetch's ranges, keeping each delta it reads open
// for the fetch's length where it can (the local spool copy, or a remote
// that is a local path: remotes.RangeOpener) and reading with one pread a
// range. Opening the delta again for every range cost about ten system
// calls a range, thousands of ranges in a restore. Anything it cannot
// open goes through readRange. Only the fetch's reading goroutine uses
// it; close releases what it opened.
type rangeReader struct {
	r    *Store
	open map[*delta]remotes.ObjectReader // nil: no handle, use readRange
}

func (r *Store) newRangeReader() *rangeReader {
	return &rangeReader{r: r, open: map[*delta]remotes.ObjectReader{}}
}

// read is readRange through the delta's open handle when there is one.
func (rr *rangeReader) read(ctx context.Context, d *delta, off, length int64) ([]byte, error) {
	h, seen := rr.open[d]
	if !seen {
		h = rr.r.openDelta(ctx, d)
		rr.open[d] = h
	}
	if h == nil || length < 0 || length > maxRangeRead || off < 0 {
		return rr.r.readRange(ctx, d, off, length)
	}
	buf := getRangeBuf(length)
	if _, err := h.ReadAt(buf, off); err != nil {
		putRangeBuf(buf)
		if errors.Is(err, io.EOF) {
			return nil, integrityErr(d.ref.name(), "is shorter than its index says", err)
		}
		return nil, fmt.Errorf("reading %s: %w", d.ref.name(), err)
	}
	return buf, nil
}

// openDelta opens d for ranged reads, or returns nil: the spool copy
// first, as readRange prefers it.
func (r *Store) openDelta(ctx context.Context, d *delta) remotes.ObjectReader {
	if d.spoolPath != "" {
		if f, err := os.Open(d.spoolPath); err == nil {
			return f
		}
		return nil // readRange reports it, or falls back to the remote
	}
	if o, ok := r.remote.(remotes.RangeOpener); ok {
		if h, ok := o.OpenRanges(ctx, d.ref.name()); ok {
			return h
		}
	}
	return nil
}

func (rr *rangeReader) close() {
	for _, h := range rr.open {
		if h != nil {
			h.Close()
		}
	}
}
