// Reproduction from the review of media13 (2026-12-03), committed failing:
// a media visitor holds a big buffer while waiting for Writer.rot.Lock, and
// Writer.store waits for big buffers under rot.RLock. Before merging:
// replace the stack polling and timeouts with a hook, then fix (never wait
// for a big buffer while holding Writer.rot: fill before acquire).

package store_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// A media visitor holds a big buffer (fixedChunks, between ChunkBuffer and
// ChunkOwned) while a directory's large tree is stored (DirToken): the tree's
// copy waits for big buffers under rot.RLock, the chunk's hand-over needs
// rot.Lock to rotate the delta.
func TestReviewTreeWhileMediaHeld(t *testing.T) {
	e := storetest.NewEnv(t)
	r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: t.TempDir(), DeltaSizeCap: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	w, err := r.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	buf := w.ChunkBuffer(2 << 20)
	*buf = append(*buf, storetest.RandBytes(1, 2<<20)...)
	nodes := make([]store.Node, 60000)
	for i := range nodes {
		nodes[i] = store.Node{Name: fmt.Sprintf("%050d", i), Kind: store.KindSymlink, Mode: 0o777, Target: fmt.Sprintf("%050d", i)}
	}
	treeDone := make(chan error, 1)
	go func() { _, err := w.Tree(nodes); treeDone <- err }()
	// Wait for the tree's copy to wait for a big buffer.
	for deadline := time.Now().Add(10 * time.Second); ; {
		st := make([]byte, 1<<20)
		st = st[:runtime.Stack(st, true)]
		if strings.Contains(string(st), "(*bigBufs).get") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the tree never waited for a big buffer")
		}
		time.Sleep(time.Millisecond)
	}
	var ref store.ChunkRef
	var wg sync.WaitGroup
	owned := make(chan error, 1)
	go func() { owned <- w.ChunkOwned(buf, true, false, &ref, &wg) }()
	for range 2 {
		select {
		case err := <-treeDone:
			t.Logf("tree: %v", err)
		case err := <-owned:
			t.Logf("owned: %v", err)
		case <-time.After(20 * time.Second):
			st := make([]byte, 1<<20)
			st = st[:runtime.Stack(st, true)]
			for _, g := range strings.Split(string(st), "\n\n") {
				if strings.Contains(g, "chatsafe/store.") && (strings.Contains(g, "Tree") || strings.Contains(g, "ChunkOwned")) {
					t.Log(g)
				}
			}
			t.Fatal("deadlock: Tree waits in bigBufs.get under rot.RLock, ChunkOwned holds a big buffer and waits for rot.Lock")
		}
	}
}
