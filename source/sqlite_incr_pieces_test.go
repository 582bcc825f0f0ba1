package source

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// incrFixture is a piecesFixture whose next read is incremental and
// changes many pages: one whole read, then an edit of every tenth message
// and a new one.
func incrFixture(t *testing.T) *piecesFixture {
	f := newPiecesFixture(t, 3000)
	f.scan()
	mustExec(t, f.db, "UPDATE msg SET body = randomblob(length(body)) WHERE id % 10 = 0")
	f.msg()
	return f
}

// checkIncremental checks that the last read was incremental, in more
// than one transaction.
func (f *piecesFixture) checkIncremental(minTxs int) {
	f.t.Helper()
	if !f.k.incr["msgstore.db"] {
		f.t.Fatal("the read was not incremental")
	}
	if f.k.txs["msgstore.db"] < minTxs {
		f.t.Errorf("%d transactions, want at least %d", f.k.txs["msgstore.db"], minTxs)
	}
}

// TestSQLiteIncrementalPiecesCommitsBetween: an incremental read of many
// changed pages, in transactions of 16 pages, while the app commits
// between every two: edits of early messages (pages the read had carried
// over or already read) and new messages. Every page that changed since
// the previous version is read in a later transaction; the read is the
// last transaction's snapshot byte for byte (pageKeeper), a sound
// database holding every message.
func TestSQLiteIncrementalPiecesCommitsBetween(t *testing.T) {
	f := incrFixture(t)
	f.k.between = func(tx int) {
		f.edit(1 + tx%7) // an early page
		f.msg()
	}
	f.scan()
	f.checkIncremental(3)
}

// TestSQLiteIncrementalPiecesRestart: the log restarted between two
// transactions of an incremental read (a RESTART checkpoint, then a
// commit): which pages changed cannot be known, the read fails as changed
// and is read again whole, still the snapshot.
func TestSQLiteIncrementalPiecesRestart(t *testing.T) {
	f := incrFixture(t)
	restarted := false
	f.k.between = func(tx int) {
		if restarted {
			return
		}
		restarted = true
		if f.checkpoint("RESTART") {
			t.Error("the app's RESTART checkpoint between two transactions was blocked")
		}
		f.edit(2)
		f.msg()
	}
	f.scan()
	if !restarted {
		t.Fatal("the read took one transaction")
	}
	if f.k.incr["msgstore.db"] {
		t.Error("the read after a restart of the log was incremental")
	}
}

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
	var ckpt *checkpointer
	exited := make(chan bool, 1)
	var busy, held bool
	k.inTx = func() {
		switch {
		case ckpt == nil:
			ckpt = startCheckpointer(t, dbPath, "TRUNCATE", 30)
			go func() { exited <- ckpt.busy() }()
			waitCheckpointLock(t, dbPath)
		case !held:
			held = true
			select {
			case busy = <-exited:
			case <-time.After(10 * time.Second):
				t.Fatal("the checkpointer did not end within 10 s")
			}
		}
	}
	if err := s.Scan(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	if !held {
		t.Fatal("the read took no batch after the checkpointer began")
	}
	if busy {
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
