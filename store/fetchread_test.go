package store_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"sync/atomic"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// rangeCountingRemote counts the ranged Gets and the OpenRanges of a
// local-path remote.
type rangeCountingRemote struct {
	remotes.Remote
	gets, opens atomic.Int32
}

func (c *rangeCountingRemote) Get(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	c.gets.Add(1)
	return c.Remote.Get(ctx, name, off, length)
}

func (c *rangeCountingRemote) OpenRanges(ctx context.Context, name string) (remotes.ObjectReader, bool) {
	c.opens.Add(1)
	return c.Remote.(remotes.RangeOpener).OpenRanges(ctx, name)
}

// On a local-path remote a fetch opens each delta once and reads its
// ranges through that handle (store/fetchread.go), with no Get; a delta
// cut short still fails the fetch as damage.
func TestFetchReadsADeltaThroughOneHandle(t *testing.T) {
	key, _ := crypt.NewKey()
	dir := t.TempDir()
	rem := &rangeCountingRemote{Remote: storetest.OpenRemote(t, dir)}
	w, err := store.Init(t.Context(), rem, key, store.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ids, content := writeBatchBlobs(t, w)
	if _, err := w.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	w.Close()

	r, err := store.Open(t.Context(), rem, key, store.Options{}) // no spool: every range comes from the remote
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rem.gets.Store(0)
	err = r.FetchBatches(t.Context(), ids, func(b *store.Batch) error {
		for i, id := range b.IDs {
			if !bytes.Equal(b.Plain(i), content[id]) {
				return errors.New("a blob read through the open handle is not what was written")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if g, o := rem.gets.Load(), rem.opens.Load(); g != 0 || o != 1 {
		t.Fatalf("the fetch made %d Gets and %d OpenRanges, want 0 and 1 (one delta)", g, o)
	}

	deltas := storetest.DeltaFiles(t, dir)
	if len(deltas) != 1 {
		t.Fatalf("%d delta files, want 1", len(deltas))
	}
	p := deltas[0]
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	err = r.FetchBatches(t.Context(), ids, func(*store.Batch) error { return nil })
	var ie *store.IntegrityError
	if !errors.As(err, &ie) {
		t.Fatalf("a fetch from a truncated delta gave %v, want an IntegrityError", err)
	}
	if !store.FetchBudgetFree() {
		t.Fatal("a failed fetch kept part of the fetch budget")
	}
}
