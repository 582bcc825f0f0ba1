package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// countedBatchStore writes writeBatchBlobs' blobs to one delta on a
// counting local-path remote in dir and opens the repository again with no
// spool, so every range comes from the remote.
func countedBatchStore(t *testing.T, dir string) (*store.Store, *storetest.CountingRemote, []crypt.ID, map[crypt.ID][]byte) {
	t.Helper()
	key, _ := crypt.NewKey()
	rem := &storetest.CountingRemote{Remote: storetest.OpenRemote(t, dir)}
	w, err := store.Init(t.Context(), rem, key, store.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ids, content := writeBatchBlobs(t, w)
	if _, err := w.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r, err := store.Open(t.Context(), rem, key, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, rem, ids, content
}

// matchContent is a fetch's callback that fails on a blob whose bytes are
// not what was written.
func matchContent(content map[crypt.ID][]byte) func(*store.Batch) error {
	return func(b *store.Batch) error {
		for i, id := range b.IDs {
			if !bytes.Equal(b.Plain(i), content[id]) {
				return errors.New("a blob read back is not what was written")
			}
		}
		return nil
	}
}

// On a local-path remote a fetch opens each delta once and reads its
// ranges through that handle (store/fetchread.go), with no Get; a delta
// cut short still fails the fetch as damage.
func TestFetchReadsADeltaThroughOneHandle(t *testing.T) {
	dir := t.TempDir()
	r, rem, ids, content := countedBatchStore(t, dir)
	rem.Gets.Store(0)
	err := r.FetchBatches(t.Context(), ids, matchContent(content))
	if err != nil {
		t.Fatal(err)
	}
	if g, o := rem.Gets.Load(), rem.Opens.Load(); g != 0 || o != 1 {
		t.Fatalf("the fetch made %d Gets and %d OpenRanges, want 0 and 1 (one delta)", g, o)
	}

	// A fetch its caller stops, or whose context ends, closes what it
	// opened.
	stop := errors.New("caller failed")
	if err := r.FetchBatches(t.Context(), ids, func(*store.Batch) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("got %v, want the caller's error", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	_ = r.FetchBatches(ctx, ids, func(*store.Batch) error { cancel(); return nil })
	cancel()
	if o, c := rem.Opens.Load(), rem.Closes.Load(); o != 3 || c != o {
		t.Fatalf("%d deltas opened and %d closed over three fetches, want 3 and 3", o, c)
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

// Fetches under KeepDeltasOpen share each delta's handle: opened by the
// first, closed only by the release; after it a fetch still reads (each
// range through the remote's Get).
func TestFetchesShareHandlesUnderKeepDeltasOpen(t *testing.T) {
	r, rem, ids, content := countedBatchStore(t, t.TempDir())
	check := matchContent(content)
	ctx, release := store.KeepDeltasOpen(t.Context())
	for range 3 {
		if err := r.FetchBatches(ctx, ids, check); err != nil {
			t.Fatal(err)
		}
	}
	if o, c := rem.Opens.Load(), rem.Closes.Load(); o != 1 || c != 0 {
		t.Fatalf("three fetches opened the delta %d times and closed it %d times, want 1 and 0", o, c)
	}
	release()
	if c := rem.Closes.Load(); c != 1 {
		t.Fatalf("the release closed %d handles, want 1", c)
	}
	rem.Gets.Store(0)
	if err := r.FetchBatches(ctx, ids, check); err != nil {
		t.Fatal(err)
	}
	if o, g := rem.Opens.Load(), rem.Gets.Load(); o != 1 || g == 0 {
		t.Fatalf("after the release a fetch made %d more opens and %d Gets, want none and some", o-1, g)
	}
}
