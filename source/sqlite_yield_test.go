//go:build linux || darwin

package source

import (
	"os"
	"testing"
	"time"
)

// Where the read can see the app's checkpoint lock (ckptlock_*.go); on
// Windows it does not wait for checkpoints (docs/sqlite.md).

// TestSQLitePiecesYieldToCheckpointer: the app (another process) runs a
// TRUNCATE checkpoint with a 30 ms busy timeout while a whole read is
// under way, after a commit the read's open transaction does not see: it
// waits for that transaction's read lock. The transaction then runs long
// (the test holds it, standing for a piece slowed down on a busy machine).
// The read must notice the waiting checkpointer, end its transaction and
// begin no other until the checkpoint is done, and still deliver its
// snapshot.
func TestSQLitePiecesYieldToCheckpointer(t *testing.T) {
	f := newPiecesFixture(t, 3000)
	f.s.pieceBytes = 64 * 4096 // no time limit
	// A short log, as in the app's life: the checkpoint has little to copy.
	f.checkpoint("TRUNCATE")
	f.msg()
	var ckpt *appCheckpoint
	f.k.afterSnapshot = func(tx int) {
		if tx != 2 {
			return
		}
		f.msg() // the open transaction's snapshot lacks these frames
		ckpt = startAppCheckpoint(t, f.dbPath)
	}
	f.k.inTx = func() { ckpt.hold(t) } // a slow piece: until the checkpointer is done
	f.scan()
	if ckpt == nil || !ckpt.held {
		t.Fatal("the read took no transaction after the checkpointer began")
	}
	if ckpt.busy {
		t.Error("the app's TRUNCATE checkpoint gave up after 30 ms: the read did not yield to it")
	}
	if f.k.starts["msgstore.db"] != 1 {
		t.Errorf("the read started %d times, want once (the checkpoint copied only frames it saw)", f.k.starts["msgstore.db"])
	}
}

// TestSQLitePiecesLookAfterASlowPage: a transaction looks at the
// checkpoint lock every 16 pages; on a loaded machine one page can take
// milliseconds (the reading thread descheduled, or waiting for a core the
// sealing workers hold), and the app's checkpoint, which began waiting
// before it, must not wait for the rest of the batch too. The app
// (another process) begins a TRUNCATE checkpoint with a 30 ms busy
// timeout when the read's second transaction fixed its snapshot (which
// lacks the app's last commit); the first page of that transaction then
// takes 2 ms, and the test holds the next page, in the same batch of 16,
// until the checkpointer is done. The read must look at the lock after
// the slow page, end its transaction and wait, so the checkpoint gets
// through.
func TestSQLitePiecesLookAfterASlowPage(t *testing.T) {
	f := newPiecesFixture(t, 3000)
	f.s.pieceBytes = 64 * 4096 // no time limit; the second transaction begins a batch
	f.k.noDirect = true        // every page through SQLite, one at a time
	f.checkpoint("TRUNCATE")
	f.msg()
	var ckpt *appCheckpoint
	var began time.Time
	f.k.afterSnapshot = func(tx int) {
		if tx != 2 {
			return
		}
		f.msg() // the open transaction's snapshot lacks these frames
		ckpt = startAppCheckpoint(t, f.dbPath)
		began = time.Now()
	}
	slow := false
	f.k.inPage = func() {
		switch {
		case ckpt == nil:
		case !slow:
			slow = true
			// A page that takes 2 ms in wall time: stands for the
			// machine, not a wait for another goroutine.
			time.Sleep(2*time.Millisecond - time.Since(began))
		default:
			ckpt.hold(t) // the next page: until the checkpointer is done
		}
	}
	f.scan()
	if ckpt == nil || !ckpt.held {
		t.Fatal("the read took no page after the slow one")
	}
	if ckpt.busy {
		t.Error("the app's TRUNCATE checkpoint gave up after 30 ms: the read went on with its batch after a slow page")
	}
}

// waitCheckpointLock waits until another process holds path's checkpoint
// lock (the checkpointer began and waits for a reader), for at most 10 s.
// Its descriptor of the -shm stays open until the test ends: closing it
// would drop this process's locks on the file, the read's included.
func waitCheckpointLock(t testing.TB, path string) {
	t.Helper()
	f, err := os.Open(path + "-shm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for !checkpointLockHeld(f) {
		if time.Now().After(deadline) {
			t.Fatal("no other process took the checkpoint lock within 10 s")
		}
		time.Sleep(100 * time.Microsecond) // polls a condition, not a guess at timing
	}
}

// appCheckpoint is the app's TRUNCATE checkpoint (busy timeout 30 ms) in a
// process of its own, begun while a read holds its transaction.
type appCheckpoint struct {
	exited chan bool
	// held: a read's transaction waited for the checkpoint to end;
	// busy: the checkpoint gave up.
	held, busy bool
}

// startAppCheckpoint begins the checkpoint on dbPath and returns once it
// holds the checkpoint lock, waiting for the read.
func startAppCheckpoint(t *testing.T, dbPath string) *appCheckpoint {
	t.Helper()
	c := &appCheckpoint{exited: make(chan bool, 1)}
	ckpt := startCheckpointer(t, dbPath, "TRUNCATE", 30)
	go func() { c.exited <- ckpt.busy() }()
	waitCheckpointLock(t, dbPath)
	return c
}

// hold stands for a slow read, once: it returns when the checkpoint ended
// (within 10 s), which it can only if the read made way for it.
func (c *appCheckpoint) hold(t *testing.T) {
	if c == nil || c.held {
		return
	}
	c.held = true
	select {
	case c.busy = <-c.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the checkpointer did not end within 10 s")
	}
}

// TestSQLiteVisitorWorkOutsideTransaction: the backup's work between
// receiving a database's content and taking its first page (a dictionary
// sample and the dictionary made of it, the previous version's chunk
// list) must not hold a read transaction: the app's TRUNCATE checkpoint
// (another process, 30 ms busy timeout), run in that stretch and waited
// for there, must get through, for a whole read in pieces and for a read
// of changed pages. Found by timing the reads' transactions: the first
// one stayed open through that work.
func TestSQLiteVisitorWorkOutsideTransaction(t *testing.T) {
	for _, incremental := range []bool{false, true} {
		name := map[bool]string{false: "whole", true: "changed pages"}[incremental]
		t.Run(name, func(t *testing.T) {
			f := newPiecesFixture(t, 3000)
			f.s.pieceBytes, f.s.pieceTime = defaultPieceBytes, defaultPieceTime
			if incremental {
				f.scan()
			}
			f.msg() // frames no checkpoint copied: a snapshot holds them
			ran := false
			f.k.beforeFirst = func(Content) {
				ran = true
				if startCheckpointer(t, f.dbPath, "TRUNCATE", 30).busy() {
					t.Error("the app's TRUNCATE checkpoint gave up after 30 ms: the read held a transaction while the backup worked")
				}
			}
			f.scan()
			if !ran {
				t.Fatal("the database was not read")
			}
			if f.k.incr["msgstore.db"] != incremental {
				t.Errorf("incremental %v, want %v", f.k.incr["msgstore.db"], incremental)
			}
		})
	}
}

// TestSQLiteDictSampleYieldsToCheckpointer: the dictionary sample of a
// whole read reads in transactions of its own, which make way for the
// app's checkpointer as the pieces do. The app (another process) starts a
// TRUNCATE checkpoint with a 30 ms busy timeout inside the sample's first
// transaction, which holds frames no checkpoint copied; the test then
// holds the sample's next page read until the checkpointer is done
// (standing for a slow sample). The sample must have ended its
// transaction and waited, so the checkpoint got through; the sample is
// still whole and the read still the snapshot.
func TestSQLiteDictSampleYieldsToCheckpointer(t *testing.T) {
	f := newPiecesFixture(t, 3000)
	f.s.pieceTime = 0 // transactions end only for the checkpointer
	var ckpt *appCheckpoint
	f.k.inSample = func() {
		if ckpt == nil {
			ckpt = startAppCheckpoint(t, f.dbPath)
			return
		}
		ckpt.hold(t)
	}
	var sample [][]byte
	f.k.beforeFirst = func(c Content) { sample = c.(DictSampler).DictSample(80) }
	f.scan()
	if ckpt == nil || !ckpt.held {
		t.Fatal("the sample read no page after the checkpointer began")
	}
	if ckpt.busy {
		t.Error("the app's TRUNCATE checkpoint gave up after 30 ms: the sample did not yield to it")
	}
	if len(sample) != 80 {
		t.Errorf("sample of %d pages, want 80", len(sample))
	}
}
