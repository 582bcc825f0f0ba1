package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// countingRemote counts the reads of delta objects and keeps the byte
// ranges they asked for.
type countingRemote struct {
	remotes.Remote
	gets atomic.Int64

	mu     sync.Mutex
	ranges []readRange
}

type readRange struct {
	name   string
	off, n int64
}

func (c *countingRemote) Get(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	if strings.HasPrefix(name, "deltas/") {
		c.gets.Add(1)
		c.mu.Lock()
		c.ranges = append(c.ranges, readRange{name, off, n})
		c.mu.Unlock()
	}
	return c.Remote.Get(ctx, name, off, n)
}

// reset forgets the reads so far.
func (c *countingRemote) reset() {
	c.gets.Store(0)
	c.mu.Lock()
	c.ranges = nil
	c.mu.Unlock()
}

// repeated names a read asked for twice (the same delta and bytes), or is
// "". A joined read may span a gap that holds bytes read before, so only
// identical requests show a blob resolved twice.
func (c *countingRemote) repeated() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[readRange]bool{}
	for _, r := range c.ranges {
		if seen[r] {
			return fmt.Sprintf("%s: bytes %d+%d", r.name, r.off, r.n)
		}
		seen[r] = true
	}
	return ""
}

// openCounting opens the repository as a new device would, counting its
// reads of delta objects.
func openCounting(t *testing.T, e *storetest.Env) (*store.Store, *countingRemote) {
	t.Helper()
	cr := &countingRemote{Remote: storetest.OpenRemote(t, e.RemoteDir)}
	r, err := store.Open(e.Ctx, cr, e.Key, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, cr
}

// TestWalkFilesReadsOnce: walking a database stored through a list index
// reads every tree, index and list blob once, and gives each file the
// chunk references ChunkRefs gives it (also across patched versions).
func TestWalkFilesReadsOnce(t *testing.T) {
	e := storetest.NewEnv(t)
	dbPath := filepath.Join(e.Src, "msgstore.db")
	db := storetest.OpenChatDB(t, dbPath)
	db.Insert(0, 80000, 10000)
	storetest.WriteFile(t, filepath.Join(e.Src, "small.txt"), []byte("hi"))
	e.Backup()

	fresh, cr := openCounting(t, e)
	roots := []crypt.ID{fresh.Snapshots()[0].Tree}
	cr.reset()
	indexed := 0
	read, err := fresh.WalkFiles(e.Ctx, roots, func(_ crypt.ID, n *store.Node, _ []store.ChunkRef) error {
		if n.Content.Index != (crypt.ID{}) {
			indexed++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if indexed != 1 {
		t.Fatalf("%d files stored through a list index, want the database's 1 (make it larger)", indexed)
	}
	// Reads may be joined (neighbouring blobs in one request), never
	// repeated.
	if got := cr.gets.Load(); got > int64(len(read)) {
		t.Errorf("walking read delta objects %d times for %d distinct blobs", got, len(read))
	}
	if o := cr.repeated(); o != "" {
		t.Errorf("walking read the same bytes twice: %s", o)
	}

	// A few changed pages later the database is a patch on the same lists.
	db.Insert(80000, 80050, 50)
	e.Backup()
	if err := fresh.Reload(e.Ctx); err != nil {
		t.Fatal(err)
	}
	roots = nil
	for _, s := range fresh.Snapshots() {
		roots = append(roots, s.Tree)
	}
	dbs := 0
	if _, err := fresh.WalkFiles(e.Ctx, roots, func(_ crypt.ID, n *store.Node, refs []store.ChunkRef) error {
		if n.Name == "msgstore.db" {
			dbs++
		}
		want, err := fresh.ChunkRefs(e.Ctx, n.Content)
		if err != nil {
			return err
		}
		if !slices.Equal(refs, want) {
			t.Errorf("%s: WalkFiles gives %d references, ChunkRefs %d", n.Name, len(refs), len(want))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if dbs != 2 {
		t.Errorf("the database's two versions visited %d times, want 2", dbs)
	}
}

// TestReloadKeepsViewOnFailure: a reload that fails (here, a delta that
// does not authenticate appeared) leaves the store reading what it read
// before, so a long-lived reader (a mount) keeps working.
func TestReloadKeepsViewOnFailure(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("hello"))
	e.Backup()
	fresh, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	before := fresh.Snapshots()
	p := plantDelta(t, e, "0000000000000009-00112233445566778899aabbccddeeff", 4096, fakeFooter(100))
	if err := fresh.Reload(e.Ctx); !errors.Is(err, store.ErrIntegrity) {
		t.Fatalf("reloading over a forged delta: %v, want an integrity failure", err)
	}
	if got := fresh.Snapshots(); len(got) != len(before) || got[0].ID != before[0].ID {
		t.Fatalf("after a failed reload the store lists %d snapshots, had %d", len(got), len(before))
	}
	if nodes, err := fresh.Tree(e.Ctx, before[0].Tree); err != nil || len(nodes) != 1 {
		t.Fatalf("reading the snapshot after a failed reload: %v %v", nodes, err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	storetest.WriteFile(t, filepath.Join(e.Src, "b.txt"), []byte("later"))
	e.Backup()
	if err := fresh.Reload(e.Ctx); err != nil || len(fresh.Snapshots()) != 2 {
		t.Fatalf("reloading once the remote is sound: %v, %d snapshots", err, len(fresh.Snapshots()))
	}
}

// TestRefreshReadsOnlyNewTrailers: a long-lived reader without a state
// directory (a mount with --remote) re-reads the head reading only the
// trailers of deltas it has not authenticated yet, not every live one.
func TestRefreshReadsOnlyNewTrailers(t *testing.T) {
	e := storetest.NewEnv(t)
	for i := range 3 {
		storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), storetest.RandBytes(uint64(i), 10<<10))
		e.Backup()
	}
	fresh, cr := openCounting(t, e)
	if live := fresh.Stats().Deltas; live < 3 {
		t.Fatalf("%d live deltas, want 3 or more", live)
	}
	storetest.WriteFile(t, filepath.Join(e.Src, "b.txt"), []byte("new"))
	e.Backup()
	cr.reset()
	if err := fresh.Refresh(e.Ctx); err != nil {
		t.Fatal(err)
	}
	if got := cr.gets.Load(); got != 1 {
		t.Errorf("refreshing after one new delta read delta objects %d times, want 1", got)
	}
	if n := len(fresh.Snapshots()); n != 4 {
		t.Errorf("%d snapshots after the refresh, want 4", n)
	}
	nodes, err := fresh.Tree(e.Ctx, fresh.Snapshots()[0].Tree)
	if err != nil || len(nodes) != 1 {
		t.Errorf("the oldest snapshot after the refresh: %v %v", nodes, err)
	}
}
