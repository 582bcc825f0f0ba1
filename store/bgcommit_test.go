package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/faults"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// A full delta is committed in the background (store/writer.go,
// rotateLocked): these tests pin that the next delta fills meanwhile, that
// at most one is in flight, that the chain stays in sequence order, and
// that a failure or a kill at each new step loses nothing committed.

const bgCap = 1 << 20 // a Padmé size; ~4 chunks of 200 KiB a delta

// setHook installs fn as faults.Hook for the test.
func setHook(t *testing.T, fn func(string) error) {
	t.Helper()
	faults.Hook = fn
	t.Cleanup(func() { faults.Hook = nil })
}

// spoolPartials counts the deltas being written in the spool under state.
func spoolPartials(t *testing.T, state string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(state, "repo-*", "spool", "*.partial"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// checkChain fails unless the head's chain runs through every sequence
// number down to 1, each delta on the one before it.
func checkChain(t *testing.T, r *store.Store, wantLen int) {
	t.Helper()
	chain := store.HeadChain(r)
	if len(chain) != wantLen {
		t.Fatalf("chain of %d deltas, want %d: %+v", len(chain), wantLen, chain)
	}
	for i, l := range chain {
		if l.Seq != uint64(wantLen-i) || l.ParentSeq != l.Seq-1 || !l.ParentIntact {
			t.Fatalf("chain out of order at %d: %+v", i, chain)
		}
	}
}

// checkRestores fails unless the newest snapshot, restored by a new
// device, is src.
func checkRestores(t *testing.T, e *storetest.Env, src string) {
	t.Helper()
	dst, err := e.RestoreFresh("")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := storetest.DirDigest(t, dst, nil), storetest.DirDigest(t, src, nil); !equalDigest(got, want) {
		t.Fatalf("restored tree differs from the source:\n%v\n%v", got, want)
	}
}

func openCapped(t *testing.T, e *storetest.Env, state string) *store.Store {
	t.Helper()
	r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: state, DeltaSizeCap: bgCap})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// holdFirstFullCommit holds the first full delta's background commit at
// its start: entered receives once it is held, closing release lets it go.
func holdFirstFullCommit(t *testing.T) (entered chan struct{}, release chan struct{}) {
	entered, release = make(chan struct{}, 1), make(chan struct{})
	var once sync.Once
	setHook(t, func(p string) error {
		if p == "writer:committing-full" {
			once.Do(func() {
				entered <- struct{}{}
				<-release
			})
		}
		return nil
	})
	return entered, release
}

// TestFullDeltaCommitsWhileTheNextFills: while a full delta's commit is
// held, chunks still go into the next delta; once it is let go, the deltas
// chain in sequence order and the snapshot restores.
func TestFullDeltaCommitsWhileTheNextFills(t *testing.T) {
	e := storetest.NewEnv(t)
	state := t.TempDir()
	r := openCapped(t, e, state)
	defer r.Close()
	entered, release := holdFirstFullCommit(t)
	w, err := r.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	data := storetest.RandBytes(3, 12*chunkSize)
	slots := make([]store.ChunkRef, 12)
	var pending sync.WaitGroup
	k := 0
	add := func() {
		t.Helper()
		if err := w.Chunk(data[k*chunkSize:(k+1)*chunkSize], true, true, &slots[k], &pending); err != nil {
			t.Fatal(err)
		}
		k++
	}
	for spoolPartials(t, state) < 2 { // the first delta is full and held
		add()
		if k == len(slots) {
			t.Fatal("no delta was full after 12 chunks under a 1 MiB cap")
		}
	}
	<-entered
	before := k
	add() // returns while the full delta's commit is held
	if got := spoolPartials(t, state); got != 2 {
		t.Fatalf("%d deltas being written while the first is held, want 2", got)
	}
	if deltas, _ := w.Written(); deltas != 0 {
		t.Fatalf("%d deltas counted as committed while the first is held", deltas)
	}
	close(release)
	for k < len(slots) {
		add()
	}
	pending.Wait()
	tree, err := w.Tree(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(store.Snapshot{Tree: tree, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	deltas, _ := w.Written()
	if deltas < 3 || before < 2 {
		t.Fatalf("%d deltas (the first full after %d chunks), want at least 3", deltas, before)
	}
	checkChain(t, r, deltas)
	if w.NewBlobs() != len(slots)+1 { // the chunks and the tree
		t.Fatalf("%d new blobs, want %d", w.NewBlobs(), len(slots)+1)
	}
}

const chunkSize = 200 << 10

// TestOneFullDeltaInFlight: however many goroutines add chunks, at most
// one full delta is being committed at a time, none is stored twice, and
// the chain stays in order.
func TestOneFullDeltaInFlight(t *testing.T) {
	e := storetest.NewEnv(t)
	r := openCapped(t, e, t.TempDir())
	defer r.Close()
	var mu sync.Mutex
	inFlight, most, started := 0, 0, 0
	setHook(t, func(p string) error {
		mu.Lock()
		defer mu.Unlock()
		switch p {
		case "writer:committing-full":
			inFlight++
			started++
			most = max(most, inFlight)
		case "writer:committed-full":
			inFlight--
		}
		return nil
	})
	// The same content twice over: the second copy must find every chunk
	// stored, whichever delta (being written or being committed) holds it.
	// Not media: a media chunk that does not fit in a delta is split at
	// the room left (backup's fixedChunks), and the copy's whole chunk is
	// then new.
	for _, name := range []string{"a.bin", "b.bin"} {
		storetest.WriteFile(t, filepath.Join(e.Src, name), storetest.RandBytes(5, 6<<20))
	}
	if _, err := backup.Run(e.Ctx, r, backup.Options{Source: e.Src}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if started < 4 || most != 1 {
		t.Fatalf("%d full deltas committed in the background, at most %d at once; want ≥ 4, 1", started, most)
	}
	deltas := storetest.DeltaFiles(t, e.RemoteDir)
	checkChain(t, r, len(deltas))
	if total := storetest.RemoteSize(t, e.RemoteDir); total > 8<<20 {
		t.Fatalf("%d bytes stored for 6 MiB stored twice: a chunk was stored twice", total)
	}
	checkRestores(t, e, e.Src)
}

// TestFullDeltaCommitFails: a failure at each step of a background commit
// fails the backup, leaves the previous snapshot and an intact chain, and
// the next backup completes.
func TestFullDeltaCommitFails(t *testing.T) {
	for _, point := range []string{"writer:committing-full", "writer:committed-full"} {
		t.Run(point, func(t *testing.T) {
			e := storetest.NewEnv(t)
			state := t.TempDir()
			r, first := firstSnapshot(t, e, state)
			injected := errors.New("injected")
			setHook(t, func(p string) error {
				if p == point {
					return injected
				}
				return nil
			})
			if _, err := backup.Run(e.Ctx, r, backup.Options{Source: e.Src}); !errors.Is(err, injected) {
				t.Fatalf("backup with %s failing: %v", point, err)
			}
			if got := spoolPartials(t, state); got != 0 {
				t.Fatalf("%d partial deltas left in the spool", got)
			}
			checkChain(t, r, len(store.HeadChain(r)))
			if _, err := r.Sync(e.Ctx); err != nil {
				t.Fatal(err)
			}
			checkRestores(t, e, first)
			faults.Hook = nil
			nextBackupCompletes(t, e, r)
			r.Close()
		})
	}
}

// TestCancelDuringFullDeltaCommit: a backup cancelled while a full delta
// is committed in the background returns, leaves no partial delta, and
// the next backup completes.
func TestCancelDuringFullDeltaCommit(t *testing.T) {
	e := storetest.NewEnv(t)
	state := t.TempDir()
	r := openCapped(t, e, state)
	defer r.Close()
	storetest.WriteFile(t, filepath.Join(e.Src, "video.mp4"), storetest.RandBytes(9, 5<<20))
	ctx, cancel := context.WithCancel(e.Ctx)
	defer cancel()
	setHook(t, func(p string) error {
		if p == "writer:committing-full" {
			cancel()
		}
		return nil
	})
	if _, err := backup.Run(ctx, r, backup.Options{Source: e.Src}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled backup: %v", err)
	}
	if got := spoolPartials(t, state); got != 0 {
		t.Fatalf("%d partial deltas left in the spool", got)
	}
	faults.Hook = nil
	nextBackupCompletes(t, e, r)
}

// firstSnapshot backs up a small first snapshot through a store capped at
// bgCap on state, then adds a file that fills more than one delta; it
// returns the store and a copy of what the first snapshot holds.
func firstSnapshot(t *testing.T, e *storetest.Env, state string) (*store.Store, string) {
	t.Helper()
	storetest.WriteFile(t, filepath.Join(e.Src, "first.txt"), []byte("the first snapshot"))
	r := openCapped(t, e, state)
	if _, err := backup.Run(e.Ctx, r, backup.Options{Source: e.Src}); err != nil {
		t.Fatal(err)
	}
	first := copyOf(t, e.Src)
	storetest.WriteFile(t, filepath.Join(e.Src, "video.mp4"), storetest.RandBytes(9, 5<<20))
	return r, first
}

// nextBackupCompletes: the backup after a fault completes and uploads,
// every delta on the remote chains, and the source restores.
func nextBackupCompletes(t *testing.T, e *storetest.Env, r *store.Store) {
	t.Helper()
	if _, err := backup.Run(e.Ctx, r, backup.Options{Source: e.Src}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
	checkChain(t, r, len(storetest.DeltaFiles(t, e.RemoteDir)))
	checkRestores(t, e, e.Src)
}

// copyOf copies the single file first.txt of src, with its times, to a
// new directory: what src held before a change.
func copyOf(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	fi, err := os.Stat(filepath.Join(src, "first.txt"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(src, "first.txt"))
	if err != nil {
		t.Fatal(err)
	}
	storetest.WriteFile(t, filepath.Join(dst, "first.txt"), b)
	if err := os.Chtimes(filepath.Join(dst, "first.txt"), fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestFailedFullDeltaLeavesNoBlobsBehind: the blobs of a full delta whose
// background commit failed are in no delta, so a writer reset and fed
// the same chunks must store them again rather than take them as stored.
func TestFailedFullDeltaLeavesNoBlobsBehind(t *testing.T) {
	e := storetest.NewEnv(t)
	state := t.TempDir()
	r := openCapped(t, e, state)
	defer r.Close()
	var once sync.Once
	injected := errors.New("injected")
	setHook(t, func(p string) error {
		var err error
		if p == "writer:committing-full" {
			once.Do(func() { err = injected })
		}
		return err
	})
	w, err := r.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	data := storetest.RandBytes(4, 12*chunkSize)
	var first store.ChunkRef
	var pending sync.WaitGroup
	for k := 0; spoolPartials(t, state) < 2; k++ {
		if k == 12 {
			t.Fatal("no delta was full after 12 chunks under a 1 MiB cap")
		}
		slot := &first
		if k > 0 {
			slot = new(store.ChunkRef)
		}
		if err := w.Chunk(data[k*chunkSize:(k+1)*chunkSize], true, true, slot, &pending); err != nil {
			break // the failure may reach a chunk already
		}
	}
	pending.Wait()
	w.Reset()
	if w.Has(first.ID) {
		t.Fatal("a chunk of the delta whose commit failed counts as stored")
	}
}
