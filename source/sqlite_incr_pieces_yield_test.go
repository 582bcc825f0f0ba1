//go:build linux || darwin

package source

import (
	"context"
	"path/filepath"
	"testing"
)

// TestSQLiteIncrementalPiecesYieldToCheckpointer: the app (its own
// process, as in life) has edited pages all over the database since the
// last read; the next read is incremental. While its transaction holds
// frames no checkpoint copied, the app starts a TRUNCATE checkpoint with a
// 30 ms busy timeout (a process of its own too); the test then holds the
// read's next batch until the checkpointer is done (standing for a read
// slowed down on a busy machine). The read must end its transaction and
// begin none until the checkpoint is done, and still be the snapshot of
// its last transaction. (The app runs in another process: a read in the
// app's own process, closing its descriptors at its end, drops the app's
// locks, and SQLite, which counts a process's locks on the -shm once,
// then lets the next read's read lock go untaken.)
func TestSQLiteIncrementalPiecesYieldToCheckpointer(t *testing.T) {
	root := t.TempDir()
	dbPath := filepath.Join(root, "msgstore.db")
	db := appDB(t, dbPath)
	createMessages(t, db, 3000)
	db.Close()
	app := startAppLoop(t, dbPath, 3000)
	app.do("commit") // the log the reads build on
	k := newPageKeeper(t)
	s := NewScanner(root, Options{Cache: emptyCache(t), CarryPages: true})
	future(s)
	s.pieceBytes, s.pieceTime = 1<<20, 0 // pieces of 256 pages: only the checkpointer ends one
	if err := s.Scan(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	app.do("edit")
	app.do("commit")
	var ckpt *appCheckpoint
	k.inTx = func() {
		if ckpt == nil {
			ckpt = startAppCheckpoint(t, dbPath)
			return
		}
		ckpt.hold(t)
	}
	if err := s.Scan(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	if ckpt == nil || !ckpt.held {
		t.Fatal("the read took no batch after the checkpointer began")
	}
	if ckpt.busy {
		t.Error("the app's TRUNCATE checkpoint gave up after 30 ms: the incremental read did not yield to it")
	}
	if !k.incr["msgstore.db"] || !k.whole["msgstore.db"] || k.txs["msgstore.db"] < 2 {
		t.Errorf("incremental %v, compared with its snapshot %v, %d transactions; want true, true, 2 or more",
			k.incr["msgstore.db"], k.whole["msgstore.db"], k.txs["msgstore.db"])
	}
	if n := restoreDB(t, k.contents["msgstore.db"]); n != 3002 {
		t.Errorf("restored %d messages, want 3002", n)
	}
}
