package source

import "testing"

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
