package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// A writer never waits for a big buffer while it holds the delta's lock.
// Media visitors hold big buffers (ChunkBuffer) while their hand-over
// (ChunkOwned) may wait for that lock to start or rotate a delta; a large
// tree (a directory of many entries) whose copy waited for a big buffer
// under the lock would wait for a buffer only that hand-over can give
// back: both stuck. Here the test holds the whole budget, a 6 MB tree
// waits for a buffer, and the held chunks are then handed over: the
// chunks and the tree must all go through. (Found in review: on the
// first version of fixed-offset media the tree waited under the lock.)
func TestBigBufferWaitIsOutsideTheDeltaLock(t *testing.T) {
	nodes := make([]store.Node, 60000) // ~6.4 MB encoded: a big buffer's copy
	for i := range nodes {
		nodes[i] = store.Node{Name: fmt.Sprintf("%050d", i), Kind: store.KindSymlink, Mode: 0o777, Target: fmt.Sprintf("%050d", i)}
	}
	t.Run("tree", func(t *testing.T) {
		bigCopyWhileMediaHeld(t, func(w *store.Writer) error { _, err := w.Tree(nodes); return err })
	})
	t.Run("chunk", func(t *testing.T) {
		data := storetest.RandBytes(9, 5<<20)
		bigCopyWhileMediaHeld(t, func(w *store.Writer) error {
			var ref store.ChunkRef
			var wg sync.WaitGroup
			err := w.Chunk(data, false, false, &ref, &wg)
			wg.Wait()
			return err
		})
	})
}

// bigCopyWhileMediaHeld holds the whole big-buffer budget as media
// chunks, runs copy until it waits for a big buffer, then hands the
// chunks over; both must go through.
func bigCopyWhileMediaHeld(t *testing.T, copy func(*store.Writer) error) {
	e := storetest.NewEnv(t)
	r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: t.TempDir(), DeltaSizeCap: 8 << 20}) // the tree and a chunk do not fit together: a rotation
	if err != nil {
		t.Fatal(err)
	}
	w, err := r.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	var held []*[]byte
	for i := range 3 { // the whole budget (bigBudget)
		buf := w.ChunkBuffer(2 << 20)
		*buf = append(*buf, storetest.RandBytes(uint64(i+1), 2<<20)...)
		held = append(held, buf)
	}
	waiting := make(chan struct{})
	var once sync.Once
	store.OnBigBufferWait(t, func() { once.Do(func() { close(waiting) }) })
	copyDone := make(chan error, 1)
	go func() { copyDone <- copy(w) }()
	// A bound on a hang, not a wait for an event: both finish at once
	// unless they are stuck on each other.
	stuck := time.After(time.Minute)
	select { // the copy waits for a big buffer
	case <-waiting:
	case err := <-copyDone:
		t.Fatalf("the copy went through without waiting for a big buffer (%v): the test no longer holds the budget", err)
	case <-stuck:
		t.Fatal("the copy never waited for a big buffer")
	}

	var pending sync.WaitGroup
	refs := make([]store.ChunkRef, len(held))
	handedOver := make(chan error, 1)
	go func() {
		for i, buf := range held {
			if err := w.ChunkOwned(buf, true, false, &refs[i], &pending); err != nil {
				handedOver <- err
				return
			}
		}
		handedOver <- nil
	}()
	for range 2 {
		select {
		case err := <-copyDone:
			if err != nil {
				t.Fatalf("the copy: %v", err)
			}
		case err := <-handedOver:
			if err != nil {
				t.Fatalf("handing over the media chunks: %v", err)
			}
		case <-stuck:
			t.Fatal("stuck: the copy waits for a big buffer while the chunks' hand-over waits for the delta's lock")
		}
	}
	pending.Wait()
	w.Close() // not deferred: after a hang it would wait too
	for i, ref := range refs {
		if ref.Len != 2<<20 {
			t.Fatalf("chunk %d: reference of %d bytes, want %d", i, ref.Len, 2<<20)
		}
	}
}
