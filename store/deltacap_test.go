package store_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// TestFullDeltasStayWithinTheCap: a backup larger than the size cap is cut
// into deltas that end at or below the cap. The cap is a Padmé size, so a
// full delta's padding stays within it; a delta that went past the cap by
// one chunk was padded by a whole Padmé step (3 % of it) instead.
func TestFullDeltasStayWithinTheCap(t *testing.T) {
	const capBytes = 1 << 20 // a Padmé size
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "video.mp4"), storetest.RandBytes(7, 5<<20))
	backupUnderCap(t, e, capBytes)
	deltas := storetest.DeltaFiles(t, e.RemoteDir)
	if len(deltas) < 5 {
		t.Fatalf("%d deltas for 5 MiB under a 1 MiB cap", len(deltas))
	}
	if over := sizesOver(t, deltas[:len(deltas)-1], capBytes); len(over) > 0 { // the newest holds the rest
		t.Fatalf("full deltas past the %d-byte cap: %v", capBytes, over)
	}
	dst, err := e.RestoreFresh("")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := storetest.DirDigest(t, dst, nil), storetest.DirDigest(t, e.Src, nil); !equalDigest(got, want) {
		t.Fatal("restored tree differs from the source")
	}
}

// TestParallelChunksStayWithinTheCap: many goroutines handing chunks to
// one writer at once still cut deltas at or below the cap. Checking that
// a delta has room and counting the chunk in it must be one step: done
// apart, every goroutine could see the same room and all fill it.
func TestParallelChunksStayWithinTheCap(t *testing.T) {
	const (
		capBytes   = 1 << 20 // a Padmé size
		chunk      = 200 << 10
		goroutines = 32
		perG       = 5
	)
	// More Ps than cores: the OS preempts a goroutine between any two
	// instructions, as it does on a machine with many cores.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4 * goroutines))
	e := storetest.NewEnv(t)
	r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: t.TempDir(), DeltaSizeCap: capBytes})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data := storetest.RandBytes(11, goroutines*perG*chunk)
	chunkConcurrently(t, r, data, chunk, goroutines)
	if _, err := r.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
	deltas := storetest.DeltaFiles(t, e.RemoteDir)
	if min := goroutines * perG * chunk / capBytes; len(deltas) < min {
		t.Fatalf("%d deltas for %d bytes under a %d-byte cap, want at least %d", len(deltas), len(data), capBytes, min)
	}
	if over := sizesOver(t, deltas, capBytes); len(over) > 0 {
		t.Fatalf("%d of %d deltas past the %d-byte cap: %v", len(over), len(deltas), capBytes, over)
	}
}

// sizesOver returns the sizes of the files in paths larger than limit.
func sizesOver(t *testing.T, paths []string, limit int64) []int64 {
	t.Helper()
	var over []int64
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > limit {
			over = append(over, fi.Size())
		}
	}
	return over
}

// backupUnderCap backs e's source up, through a store whose deltas are
// cut at capBytes, to e's remote, and syncs it; the store closes with the
// test.
func backupUnderCap(t *testing.T, e *storetest.Env, capBytes int64) *store.Store {
	t.Helper()
	r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: t.TempDir(), DeltaSizeCap: capBytes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if _, err := backup.Run(e.Ctx, r, backup.Options{Source: e.Src}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
	return r
}
