package storetest

import (
	"context"
	"io"
	"sync/atomic"

	"github.com/chatsafe/chatsafe/remotes"
)

// CountingRemote counts the ranged Gets of a local-path remote, the deltas
// it opened for ranged reads (OpenRanges) and the handles closed again.
type CountingRemote struct {
	remotes.Remote
	Gets, Opens, Closes atomic.Int32
}

// countedReader counts its Close in its remote.
type countedReader struct {
	remotes.ObjectReader
	c *CountingRemote
}

func (r countedReader) Close() error {
	r.c.Closes.Add(1)
	return r.ObjectReader.Close()
}

func (c *CountingRemote) Get(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	c.Gets.Add(1)
	return c.Remote.Get(ctx, name, off, length)
}

func (c *CountingRemote) OpenRanges(ctx context.Context, name string) (remotes.ObjectReader, bool) {
	o, ok := c.Remote.(remotes.RangeOpener).OpenRanges(ctx, name)
	if !ok {
		return nil, false
	}
	c.Opens.Add(1)
	return countedReader{o, c}, true
}
