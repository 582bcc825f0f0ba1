package remotes

import (
	"context"
	"io"
	"os"
	"path/filepath"
)

// RangeOpener is implemented by remotes that can serve many ranged reads
// of one object through a single open handle: a local-path remote without
// a bandwidth limit. A restore reads thousands of ranges, and each Get of
// a local object costs about ten system calls (two stats, an open, the
// poller's probes, a seek, the read, a close) where one pread does.
type RangeOpener interface {
	// OpenRanges opens name for ReadAt until Close. ok is false, with
	// nothing open, when this remote cannot; the caller then uses Get,
	// which also reports errors (a missing object) the usual way.
	OpenRanges(ctx context.Context, name string) (r ObjectReader, ok bool)
}

// ObjectReader reads an object at any offset until it is closed; a read
// past the object's end is short, with io.EOF.
type ObjectReader interface {
	io.ReaderAt
	io.Closer
}

func (r *rcloneRemote) OpenRanges(ctx context.Context, name string) (ObjectReader, bool) {
	if r.closed.Load() || ctx.Err() != nil || r.limiter != nil || r.info.backend != "local" || checkName(name, false) != nil {
		return nil, false
	}
	f, err := os.Open(filepath.Join(filepath.FromSlash(r.f.Root()), filepath.FromSlash(name)))
	if err != nil {
		return nil, false
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, false
	}
	return f, true
}

// OpenRanges passes through to the wrapped remote: an open handle has no
// transient failures to retry, and Get (with retries) remains the
// fallback.
func (rr *retryRemote) OpenRanges(ctx context.Context, name string) (ObjectReader, bool) {
	if o, ok := rr.r.(RangeOpener); ok {
		return o.OpenRanges(ctx, name)
	}
	return nil, false
}
