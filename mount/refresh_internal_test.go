//go:build linux || darwin

package mount

import (
	"context"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/browse"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/store"
)

// countingReader is a reader of an empty repository that counts reloads.
type countingReader struct {
	browse.Reader
	reloads int
}

func (c *countingReader) Snapshots() []store.Snapshot       { return nil }
func (c *countingReader) Refresh(ctx context.Context) error { c.reloads++; return nil }
func (c *countingReader) Locate(id crypt.ID) string         { return "" }

// TestRefreshIsRateLimited: however often the root is looked at, the
// head is re-read at most once per interval.
func TestRefreshIsRateLimited(t *testing.T) {
	c := &countingReader{}
	n := newRoot(c, time.Hour)
	for range 10 {
		n.view(t.Context())
	}
	if c.reloads != 0 {
		t.Errorf("%d reloads within the first hour, want none", c.reloads)
	}
	n.checked = n.checked.Add(-time.Hour)
	for range 10 {
		n.view(t.Context())
	}
	if c.reloads != 1 {
		t.Errorf("%d reloads once the list was an hour old, want 1", c.reloads)
	}
	if d := newRoot(c, 0).refresh; d != defaultRefresh {
		t.Errorf("the default refresh is %v", d)
	}
}
