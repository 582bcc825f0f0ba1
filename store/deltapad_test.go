package store_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// maxIndexEntry is the format's bound on one index entry (limits.go).
const maxIndexEntry = 44

// TestFullDeltasPadLittle: a delta cut at the size cap is filled to within
// about one blob of it: the room its blobs and trailer leave below the cap
// (its padding, or more where a Padmé size below the cap took them) stays
// below the blob that did not fit plus its seal and roomBound, what the
// writer's count of the trailer keeps in hand. It was 64 KiB more at this
// cap (a sixteenth of it), and 1–1.45 MB in a full 256 MiB delta. With
// many submitters at once, each blob in flight when the delta is cut was
// counted at the largest entry it could add, up to perInflight more than
// it did: the seal workers and their queue hold up to 3 × GOMAXPROCS, the
// submitters one each.
func TestFullDeltasPadLittle(t *testing.T) {
	const (
		capBytes = 1 << 20 // a Padmé size
		// roomBound: the least padding (its seal), the refused blob's
		// entry, and the trailer count's margin (8 more live deltas,
		// counts and varints at their widest).
		roomBound   = 2 << 10
		perInflight = maxIndexEntry + 32 - 37 // an entry at its largest, on a base, less the least one
	)
	for _, tc := range []struct {
		chunk, goroutines int
	}{
		{4 << 10, 1},    // pages
		{4 << 10, 32},   // pages, 32 submitters
		{200 << 10, 32}, // media chunks, 32 submitters
	} {
		t.Run(fmt.Sprintf("%d bytes by %d", tc.chunk, tc.goroutines), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4 * tc.goroutines))
			e := storetest.NewEnv(t)
			r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: t.TempDir(), DeltaSizeCap: capBytes})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			total := 4*capBytes + capBytes/2
			chunkConcurrently(t, r, storetest.RandBytes(uint64(tc.chunk), total), tc.chunk, tc.goroutines)
			if _, err := r.Sync(e.Ctx); err != nil {
				t.Fatal(err)
			}
			inflight := 1
			if tc.goroutines > 1 {
				inflight = 3*runtime.GOMAXPROCS(0) + tc.goroutines
			}
			checkFilledToCap(t, r, total, capBytes, int64(tc.chunk+crypt.Overhead+roomBound+inflight*perInflight))
		})
	}
}

// chunkConcurrently stores data in chunks of the given size from
// goroutines submitters at once, then commits a snapshot.
func chunkConcurrently(t *testing.T, r *store.Store, data []byte, chunk, goroutines int) {
	t.Helper()
	w, err := r.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	n := len(data) / chunk
	slots := make([]store.ChunkRef, n)
	var pending, started sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, goroutines)
	for g := range goroutines {
		started.Add(1)
		go func() {
			defer started.Done()
			<-start
			for k := g; k < n; k += goroutines {
				if err := w.Chunk(data[k*chunk:(k+1)*chunk], true, goroutines == 1, &slots[k], &pending); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	close(start)
	started.Wait()
	pending.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	commitEmptyTree(t, w)
}

// commitEmptyTree commits a snapshot of an empty root with what w wrote.
func commitEmptyTree(t *testing.T, w *store.Writer) {
	t.Helper()
	tree, err := w.Tree(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(store.Snapshot{Tree: tree, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotRecordGoesWhereItFits: a snapshot record the delta being
// written has no room left for (here 300 unreadable paths of 1 KiB) is
// committed in a delta of its own, so the delta with the blobs stays at or
// below the cap rather than padding to the next Padmé size.
func TestSnapshotRecordGoesWhereItFits(t *testing.T) {
	const capBytes = 1 << 20
	e := storetest.NewEnv(t)
	r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: t.TempDir(), DeltaSizeCap: capBytes})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := r.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	data := storetest.RandBytes(5, 800<<10)
	var pending sync.WaitGroup
	slots := make([]store.ChunkRef, len(data)/(4<<10))
	for k := range slots {
		if err := w.Chunk(data[k<<12:(k+1)<<12], true, true, &slots[k], &pending); err != nil {
			t.Fatal(err)
		}
	}
	pending.Wait()
	tree, err := w.Tree(nil)
	if err != nil {
		t.Fatal(err)
	}
	snap := store.Snapshot{Tree: tree, Time: time.Now()}
	for i := range 300 {
		snap.Incomplete = append(snap.Incomplete, store.Omission{Path: fmt.Sprintf("%04d/%s", i, strings.Repeat("x", 1<<10)), Reason: "permission denied"})
	}
	if _, err := w.Commit(snap); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
	deltas := storetest.DeltaFiles(t, e.RemoteDir)
	if over := sizesOver(t, deltas, capBytes); len(deltas) != 2 || len(over) > 0 { // the blobs', the record's
		t.Fatalf("%d deltas, %v of them past the %d-byte cap; want the blobs and the record apart, both within it", len(deltas), over, capBytes)
	}
	fresh, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	snaps := fresh.Snapshots()
	if len(snaps) != 1 || len(snaps[0].Incomplete) != 300 || snaps[0].Tree != tree {
		t.Fatalf("snapshots: %d, want the one with its 300 omissions", len(snaps))
	}
}

// TestRunsOfPagesPadLittle: runs of pages (Writer.Pages) fill a delta as
// closely as single blobs do, also while a dictionary is being sampled,
// when a run is sealed page by page and each page pays a seal of its own:
// the run's reservation must cover those seals (else the delta could pass
// its cap) and be released page by page as they land (else the pages
// count twice for a moment and the delta is cut a run or more early).
func TestRunsOfPagesPadLittle(t *testing.T) {
	const (
		capBytes    = 1 << 20
		run         = store.GroupPages * 4096
		roomBound   = 2 << 10
		perInflight = maxIndexEntry + 32 - 37
	)
	e := storetest.NewEnv(t)
	r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: t.TempDir(), DeltaSizeCap: capBytes})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := r.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	data := storetest.RandBytes(11, 4*capBytes+capBytes/2)
	n := len(data) / run
	refs := make([]store.ChunkRef, n*store.GroupPages)
	var pending sync.WaitGroup
	for k := range n {
		store.SampleDictionary(r) // every run page by page
		lens := make([]int, store.GroupPages)
		slots := make([]*store.ChunkRef, store.GroupPages)
		for i := range lens {
			lens[i], slots[i] = 4096, &refs[k*store.GroupPages+i]
		}
		if err := w.Pages(data[k*run:(k+1)*run], lens, slots, &pending); err != nil {
			t.Fatal(err)
		}
	}
	pending.Wait()
	commitEmptyTree(t, w)
	if _, err := r.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
	// One run did not fit, with a seal a page; the runs in flight (the
	// workers and their queue) counted each entry at its largest.
	inflight := (3*runtime.GOMAXPROCS(0) + 1) * (store.GroupPages + 1)
	checkFilledToCap(t, r, len(data), capBytes, int64(run+store.GroupPages*crypt.Overhead+roomBound+inflight*perInflight))
}

// checkFilledToCap checks that the deltas holding total bytes, all but the
// newest (which holds the rest), are within capBytes and leave at most
// bound bytes below it.
func checkFilledToCap(t *testing.T, r *store.Store, total int, capBytes, bound int64) {
	t.Helper()
	sizes, padding := store.DeltaPadding(r)
	if len(sizes) < 5 {
		t.Fatalf("%d deltas for %d bytes under a %d-byte cap", len(sizes), total, capBytes)
	}
	for i, size := range sizes[:len(sizes)-1] {
		room := capBytes - (size - padding[i])
		t.Logf("delta %d: %d bytes, %d of them padding, %d left below the cap", i, size, padding[i], room)
		if size > capBytes {
			t.Errorf("delta %d: %d bytes, past the %d-byte cap", i, size, capBytes)
		}
		if room > bound {
			t.Errorf("delta %d: %d bytes left below the cap, want at most %d", i, room, bound)
		}
	}
}
