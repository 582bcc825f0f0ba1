package source

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
)

// fullScan reads every page of the database at path as it is now, through
// a connection of its own.
func fullScan(t testing.TB, path string) []byte {
	t.Helper()
	db, err := sql.Open("sqlite", sqliteDSN(path, 1000))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	out, err := wholeSnapshot(tx)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSQLiteWholeReadLetsAppCheckpoint: while a whole read is under way
// (its first page consumed, most of the database still to read), the app's
// own TRUNCATE checkpoint, which waits for every reader of a snapshot that
// holds frames, must not find the backup in its way.
func TestSQLiteWholeReadLetsAppCheckpoint(t *testing.T) {
	root := t.TempDir()
	dbPath := filepath.Join(root, "msgstore.db")
	db := appDB(t, dbPath)
	createMessages(t, db, 3000) // every page in -wal frames: the snapshot holds frames
	k := newPageKeeper(t)
	checkpointed := false
	k.afterFirst = func() {
		mustExec(t, db, "PRAGMA busy_timeout=0") // no waiting: busy means blocked
		var busy, logFrames, done int
		if err := db.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done); err != nil {
			t.Fatal(err)
		}
		if busy != 0 {
			t.Errorf("the app's TRUNCATE checkpoint was blocked by the backup's whole read")
		}
		checkpointed = true
	}
	s := NewScanner(root, Options{Cache: emptyCache(t), CarryPages: true})
	future(s)
	if err := s.Scan(context.Background(), k); err != nil {
		t.Fatalf("scan: %v", err)
	}
	if !checkpointed {
		t.Fatal("the database was not read")
	}
	if got, want := k.contents["msgstore.db"], fullScan(t, dbPath); string(got) != string(want) {
		t.Errorf("the read (%d bytes) differs from a full scan of the database (%d bytes)", len(got), len(want))
	}
	if n := restoreDB(t, k.contents["msgstore.db"]); n != 3000 {
		t.Errorf("restored %d rows, want 3000", n)
	}
}

// piecesFixture is a live app database of n messages whose every page is
// in -wal frames, and a scanner that reads it in pieces of 16 pages.
type piecesFixture struct {
	t      *testing.T
	root   string
	dbPath string
	db     *sql.DB
	k      *pageKeeper
	s      *Scanner
	next   int // next message id
}

func newPiecesFixture(t *testing.T, n int) *piecesFixture {
	root := t.TempDir()
	f := &piecesFixture{t: t, root: root, dbPath: filepath.Join(root, "msgstore.db"), next: n + 1}
	f.db = appDB(t, f.dbPath)
	createMessages(t, f.db, n)
	f.k = newPageKeeper(t)
	f.s = NewScanner(root, Options{Cache: emptyCache(t), CarryPages: true})
	future(f.s)
	f.s.pieceBytes = 16 * 4096
	f.s.pieceTime = 0 // pieces of 16 pages exactly: the tests count gaps
	return f
}

func (f *piecesFixture) msg() { insertMessage(f.t, f.db, f.next); f.next++ }

// edit rewrites an early message, so pages already read change.
func (f *piecesFixture) edit(id int) {
	mustExec(f.t, f.db, "UPDATE msg SET body = randomblob(length(body)) WHERE id = ?", id)
}

// checkpoint runs the app's checkpoint without waiting and reports
// whether a reader was in its way.
func (f *piecesFixture) checkpoint(mode string) (busy bool) {
	f.t.Helper()
	mustExec(f.t, f.db, "PRAGMA busy_timeout=0")
	defer mustExec(f.t, f.db, "PRAGMA busy_timeout=10000")
	var b, logFrames, done int
	if err := f.db.QueryRow("PRAGMA wal_checkpoint("+mode+")").Scan(&b, &logFrames, &done); err != nil {
		f.t.Fatal(err)
	}
	return b != 0
}

// scan reads the database once; the pageKeeper compares the result with a
// full scan of the read's last snapshot. It checks the result is that
// snapshot and a sound database holding every committed message, and the
// database as it is now (the app is idle), and returns the pages read.
func (f *piecesFixture) scan() int {
	f.t.Helper()
	if err := f.s.Scan(context.Background(), f.k); err != nil {
		f.t.Fatalf("scan: %v", err)
	}
	if len(f.k.warns) != 0 {
		f.t.Fatalf("warnings %v", f.k.warns)
	}
	if !f.k.whole["msgstore.db"] {
		f.t.Fatal("the read was not compared with a full scan of its snapshot")
	}
	delete(f.k.whole, "msgstore.db")
	got := f.k.contents["msgstore.db"]
	if want := fullScan(f.t, f.dbPath); !bytes.Equal(got, want) {
		f.t.Errorf("the read (%d bytes) differs from the database now (%d bytes)", len(got), len(want))
	}
	if n := restoreDB(f.t, got); n != f.next-1 {
		f.t.Errorf("restored %d messages, want %d", n, f.next-1)
	}
	return f.k.read["msgstore.db"]
}

func (f *piecesFixture) pages() int64 {
	var n int64
	if err := f.db.QueryRow("PRAGMA page_count").Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// TestSQLitePiecesCheckpointAtBoundary: the app's TRUNCATE checkpoint,
// run between two pieces, finds no reader in its way. The -wal is empty
// then; the wal-index keeps the checksum of the last commit: when the read
// saw that commit, it goes on, otherwise unseen frames may have reached the
// database file and it starts again from page 1. Either way it delivers
// the final snapshot.
func TestSQLitePiecesCheckpointAtBoundary(t *testing.T) {
	cases := []struct {
		name          string
		afterSnapshot func(f *piecesFixture, tx int)
		between       func(f *piecesFixture, tx int)
		starts        int
	}{
		{"no commit since the read began", nil, func(f *piecesFixture, tx int) {
			if tx == 2 && f.checkpoint("TRUNCATE") {
				t.Error("the app's TRUNCATE checkpoint between two pieces was blocked")
			}
		}, 1},
		// The commit is in the log the second transaction read, not in its
		// snapshot: pages that transaction read are read again.
		{"a commit the read saw in the log", func(f *piecesFixture, tx int) {
			if tx == 2 {
				mustExec(t, f.db, "UPDATE msg SET body = randomblob(length(body)) WHERE id % 50 = 0")
				f.msg()
			}
		}, func(f *piecesFixture, tx int) {
			if (tx == 2 || tx == 4) && f.checkpoint("TRUNCATE") { // at 4 the log is empty already
				t.Error("the app's TRUNCATE checkpoint between two pieces was blocked")
			}
		}, 1},
		{"a commit the read did not see", nil, func(f *piecesFixture, tx int) {
			if tx == 2 {
				f.edit(1)
				f.msg()
				if f.checkpoint("TRUNCATE") {
					t.Error("the app's TRUNCATE checkpoint between two pieces was blocked")
				}
			}
		}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newPiecesFixture(t, 3000)
			if c.afterSnapshot != nil {
				f.k.afterSnapshot = func(tx int) { c.afterSnapshot(f, tx) }
			}
			f.k.between = func(tx int) { c.between(f, tx) }
			f.scan()
			if f.k.starts["msgstore.db"] != c.starts || f.k.long["msgstore.db"] {
				t.Errorf("starts %d (one long transaction: %v), want %d in pieces", f.k.starts["msgstore.db"], f.k.long["msgstore.db"], c.starts)
			}
		})
	}
}

// TestSQLitePiecesCommitsBetween: commits between every two pieces, some
// rewriting pages read long before; the read never starts again and reads
// again only the pages the commits touched. (A checkpoint that copies
// every frame lets the next commit restart the log: that read starts
// again, see TestSQLitePiecesRestartsBounded.)
func TestSQLitePiecesCommitsBetween(t *testing.T) {
	f := newPiecesFixture(t, 3000)
	total := f.pages()
	f.k.between = func(tx int) {
		f.edit(1 + tx*7)
		f.msg()
	}
	read := f.scan()
	if f.k.starts["msgstore.db"] != 1 {
		t.Errorf("the read started %d times, want once", f.k.starts["msgstore.db"])
	}
	if txs := f.k.txs["msgstore.db"]; int64(txs) < total/16 {
		t.Errorf("%d transactions for %d pages in pieces of 16", txs, total)
	}
	// Each commit touches a few pages (row, index, meta, free list).
	if extra := int64(read) - f.pages(); extra > int64(f.k.txs["msgstore.db"])*12 {
		t.Errorf("read %d pages for a database of %d: %d read again for %d commits", read, f.pages(), extra, f.k.txs["msgstore.db"])
	}
}

// TestSQLitePiecesRestartsBounded: a checkpoint that empties or restarts
// the log between every two pieces makes each start fail; after three
// starts the read takes one transaction and still delivers the final
// snapshot.
func TestSQLitePiecesRestartsBounded(t *testing.T) {
	for _, mode := range []string{"RESTART", "TRUNCATE"} {
		t.Run(mode, func(t *testing.T) {
			f := newPiecesFixture(t, 3000)
			f.k.between = func(tx int) {
				f.edit(1 + tx)
				f.msg()
				if f.checkpoint(mode) {
					t.Errorf("%s checkpoint between two pieces was blocked", mode)
				}
			}
			f.scan()
			if !f.k.long["msgstore.db"] || f.k.starts["msgstore.db"] != pieceStarts {
				t.Errorf("starts %d, one long transaction %v; want %d starts, then one transaction",
					f.k.starts["msgstore.db"], f.k.long["msgstore.db"], pieceStarts)
			}
		})
	}
}

// TestSQLitePiecesPageCountChanges: the database grows and then shrinks
// (deletes and VACUUM, below the pages already delivered) between pieces.
func TestSQLitePiecesPageCountChanges(t *testing.T) {
	f := newPiecesFixture(t, 3000)
	before := f.pages()
	var grown, shrunk int64
	f.k.between = func(tx int) {
		switch tx {
		case 2:
			for range 300 {
				f.msg()
			}
			grown = f.pages()
		case int(before/16) - 2:
			// Deleted rows come back empty so the ids stay 1..n.
			mustExec(t, f.db, "UPDATE msg SET body = x'' WHERE id > 100")
			mustExec(t, f.db, "VACUUM")
			shrunk = f.pages()
		}
	}
	f.scan()
	if grown <= before || shrunk == 0 || shrunk >= before/2 {
		t.Fatalf("pages %d, grown to %d, shrunk to %d: the test did not change the page count as meant", before, grown, shrunk)
	}
	if f.k.starts["msgstore.db"] != 1 {
		t.Errorf("the read started %d times, want once (VACUUM in WAL mode writes frames)", f.k.starts["msgstore.db"])
	}
}

// TestSQLitePiecesKeepReadLock: while a transaction of the read is open,
// its snapshot holds frames, and the app's TRUNCATE checkpoint (another
// process) must wait for it. Opening and closing the -shm file in the
// backup's process drops every POSIX lock the process holds on it, SQLite's
// read lock included: then the checkpoint would empty the log under the
// open transaction.
func TestSQLitePiecesKeepReadLock(t *testing.T) {
	f := newPiecesFixture(t, 3000)
	ran := false
	f.k.inLast = func() {
		ran = true
		if !checkpointNow(t, f.dbPath, "TRUNCATE") {
			t.Error("a TRUNCATE checkpoint in another process emptied the log while the read's last transaction was open")
		}
	}
	f.scan()
	if !ran {
		t.Fatal("the read's last transaction was not reached")
	}
}

// TestSQLitePiecesDirectReads: the pages no frame holds are read from the
// database file itself, while the app commits between the pieces and, inside
// a transaction of the read, commits and checkpoints (PASSIVE: it copies
// the frames the read's snapshot holds, not the newer ones) — the result is
// still byte for byte the last snapshot.
func TestSQLitePiecesDirectReads(t *testing.T) {
	f := newPiecesFixture(t, 3000)
	f.checkpoint("TRUNCATE")
	f.msg()
	f.k.between = func(tx int) {
		f.edit(1 + tx*7)
		f.msg()
	}
	f.k.afterSnapshot = func(tx int) {
		if tx%3 == 0 && tx <= 21 { // not in the last transaction: its snapshot is the read's
			f.edit(2 + tx*5)
			f.msg()
			if f.checkpoint("PASSIVE") {
				t.Error("a PASSIVE checkpoint reported busy")
			}
		}
	}
	f.scan()
	if d, all := f.k.direct["msgstore.db"], f.pages(); d < all/2 {
		t.Errorf("%d of %d pages read from the database file, want most", d, all)
	}
	if f.k.starts["msgstore.db"] != 1 {
		t.Errorf("the read started %d times, want once", f.k.starts["msgstore.db"])
	}
}

// TestSQLitePiecesFileReplaced: the app replaces its database by rename
// (a restore or a migration: the new file's -wal and -shm gone with the
// old names) while a whole read in pieces is under way. SQLite's
// connection still reads the old file and its old log; the read must
// deliver that snapshot or report the change, never the old file's own
// pages where its log holds newer ones (direct reads guided by the new
// path's log).
func TestSQLitePiecesFileReplaced(t *testing.T) {
	f := newPiecesFixture(t, 3000)
	f.checkpoint("TRUNCATE")
	for id := 1; id < 400; id += 3 {
		f.edit(id) // frames in the -wal for the early pages
	}
	f.msg()
	replaced := false
	f.k.afterSnapshot = func(tx int) {
		if replaced {
			return
		}
		replaced = true
		fresh := filepath.Join(f.root, "fresh.db")
		mustExec(t, f.db, "VACUUM INTO '"+fresh+"'")
		if err := os.Rename(fresh, f.dbPath); err != nil {
			t.Fatal(err)
		}
		for _, ext := range []string{"-wal", "-shm"} {
			if err := os.Remove(f.dbPath + ext); err != nil {
				t.Fatal(err)
			}
		}
	}
	err := f.s.Scan(context.Background(), f.k)
	if !replaced {
		t.Fatal("the read's second transaction was not reached")
	}
	if err == nil && !f.k.whole["msgstore.db"] {
		t.Fatal("the read was not compared with a full scan of its snapshot")
	}
	// The pageKeeper compared what was delivered with the snapshot.
}
