package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/chatsafe/chatsafe/remotes"
)

// rangeReader reads one fetch's ranges, keeping each delta it reads open
// for the fetch's length where it can (the local spool copy, or a remote
// that is a local path: remotes.RangeOpener) and reading with one pread a
// range. Opening the delta again for every range cost about ten system
// calls a range, thousands of ranges in a restore. Anything it cannot
// open goes through readRange. Only the fetch's reading goroutine uses
// it; close releases what it opened, unless the handles are shared
// (KeepDeltasOpen), whose release closes them.
type rangeReader struct {
	r      *Store
	open   map[*delta]remotes.ObjectReader // nil: no handle, use readRange
	shared *sharedDeltas                   // the handles' owner when the context keeps them (KeepDeltasOpen)
}

func (r *Store) newRangeReader(ctx context.Context) *rangeReader {
	shared, _ := ctx.Value(sharedDeltasKey{}).(*sharedDeltas)
	return &rangeReader{r: r, open: map[*delta]remotes.ObjectReader{}, shared: shared}
}

// read is readRange through the delta's open handle when there is one.
func (rr *rangeReader) read(ctx context.Context, d *delta, off, length int64) ([]byte, error) {
	h, seen := rr.open[d]
	if !seen {
		if rr.shared != nil {
			h = rr.shared.get(ctx, rr.r, d)
		} else {
			h = rr.r.openDelta(ctx, d)
		}
		rr.open[d] = h
	}
	if h == nil || length < 0 || length > maxRangeRead || off < 0 {
		return rr.r.readRange(ctx, d, off, length)
	}
	buf := getRangeBuf(length)
	if _, err := h.ReadAt(buf, off); err != nil {
		putRangeBuf(buf)
		if errors.Is(err, io.EOF) && d.spoolPath != "" {
			return nil, spoolDamage(d.ref.name(), "its spooled copy is shorter than its index says", err)
		}
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
	if rr.shared != nil {
		return // the shared set's release closes them
	}
	for _, h := range rr.open {
		if h != nil {
			h.Close()
		}
	}
}

// sharedDeltas is the delta handles every fetch under one context opened
// (KeepDeltasOpen), each delta opened once for all of them. A handle is
// an os.File or a remote's ranged reader, both safe for concurrent ReadAt.
type sharedDeltas struct {
	mu     sync.Mutex
	open   map[*delta]remotes.ObjectReader // nil: the delta could not be opened
	closed bool
}

type sharedDeltasKey struct{}

// KeepDeltasOpen returns a context under which fetches share the deltas
// they open, and the function that closes them, to be called once no
// fetch under that context runs. A restore fetches each file's chunks on
// its own, and without it opened (and closed) every delta again for every
// file: about nine system calls a file. While they are open, a delta
// file cannot be deleted on Windows: a daemon's release of it from the
// spool fails there, and the file stays in the spool until the store is
// next opened, as when a fetch holds it, only for longer.
func KeepDeltasOpen(ctx context.Context) (context.Context, func()) {
	s := &sharedDeltas{open: map[*delta]remotes.ObjectReader{}}
	return context.WithValue(ctx, sharedDeltasKey{}, s), s.release
}

// get returns d's shared handle, opening it first if no fetch did; nil
// (use readRange) once released.
func (s *sharedDeltas) get(ctx context.Context, r *Store, d *delta) remotes.ObjectReader {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	h, seen := s.open[d]
	if !seen {
		h = r.openDelta(ctx, d)
		s.open[d] = h
	}
	return h
}

func (s *sharedDeltas) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for d, h := range s.open {
		if h != nil {
			h.Close()
		}
		delete(s.open, d)
	}
}
