package store_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// gatedRemote holds the first delta upload until a second one starts (so
// it passes only if uploads run outside the resealer's lock), and counts
// the uploads of every delta.
type gatedRemote struct {
	remotes.Remote
	mu      sync.Mutex
	puts    map[string]int
	second  chan struct{}
	started int
}

func (g *gatedRemote) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if strings.HasPrefix(name, "deltas/") {
		g.mu.Lock()
		g.puts[name]++
		g.started++
		n := g.started
		if n == 2 {
			close(g.second)
		}
		g.mu.Unlock()
		if n == 1 {
			select {
			case <-g.second:
			case <-ctx.Done():
				return fmt.Errorf("the first delta's upload waited for a second that never started: %w", ctx.Err())
			}
		}
	}
	return g.Remote.Put(ctx, name, r, size)
}

// TestResealUploadsOutsideTheLock: while one fetch worker uploads a full
// delta, the others go on re-sealing into the next; every delta is
// uploaded exactly once and the new key restores everything.
func TestResealUploadsOutsideTheLock(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	e := storetest.NewEnv(t)
	// Several fetch ranges (1 MiB each at most), so that several workers
	// have blobs to re-seal.
	for i := range 40 {
		storetest.WriteFile(t, filepath.Join(e.Src, fmt.Sprintf("f%02d", i)), storetest.RandBytes(uint64(100+i), 100<<10))
	}
	e.Backup()
	want := storetest.DirDigest(t, e.Src, nil)
	newKey, _ := crypt.NewKey()

	e.Store.Close()
	r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State, DeltaSizeCap: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedRemote{Remote: e.Remote, puts: map[string]int{}, second: make(chan struct{})}
	ctx, cancel := context.WithTimeout(e.Ctx, 30*time.Second) // bounds a deadlock; never waited out when it works
	defer cancel()
	if err := r.ResealTo(ctx, newKey, []remotes.Remote{g}); err != nil {
		t.Fatalf("re-sealing: %v", err)
	}
	r.Close()
	if len(g.puts) < 4 {
		t.Fatalf("%d deltas re-sealed, want several", len(g.puts))
	}
	for name, n := range g.puts {
		if n != 1 {
			t.Errorf("%s uploaded %d times", name, n)
		}
	}
	if spooled, _ := filepath.Glob(filepath.Join(e.State, "repo-*", "spool", "*")); len(spooled) != 0 {
		t.Errorf("left in the spool: %v", spooled)
	}
	if !equalDigest(restoredWith(t, e, newKey), want) {
		t.Fatal("restore after re-sealing with concurrent uploads differs")
	}
}
