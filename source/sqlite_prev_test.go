package source

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSQLitePrevAgainstRealWriter: the copies an incremental read offers
// of the changed pages' previous versions (Chunk.Prev) are those versions
// while the app commits, after checkpoints that copied frames the last
// read saw, and after the log restarted; a page added since has none. A
// wrong guess is allowed (the backup checks it), but in these cases the
// previous version is on this machine and must be found.
func TestSQLitePrevAgainstRealWriter(t *testing.T) {
	root := t.TempDir()
	db := appDB(t, filepath.Join(root, "msgstore.db"))
	createMessages(t, db, 3000)
	next := 3001
	cache, err := LoadFileCache(filepath.Join(t.TempDir(), "cache"))
	if err != nil {
		t.Fatal(err)
	}
	k := newPageKeeper(t)
	var found, wrong, missing, added int
	var last []byte // the previous read's database
	// whole: the next read is to be whole; racy: it runs as if just
	// after the database file changed.
	whole, racy := true, false
	k.prev = func(pgno int, prev []byte) {
		var base []byte
		if ps := 4096; pgno*ps <= len(last) {
			base = last[(pgno-1)*ps : pgno*ps]
		}
		switch {
		case base == nil && prev != nil:
			t.Errorf("page %d was added since the last read, yet has a previous version", pgno)
		case base == nil:
			added++
		case prev == nil:
			missing++
		case bytes.Equal(prev, base):
			found++
		default:
			wrong++
		}
	}
	// step runs op, then a read, and checks the guesses as want says.
	const (
		none = iota // no changed page had a previous version
		all         // each changed page's previous version was found
		any         // guesses may be wrong or missing
	)
	step := func(name string, want int, op func()) {
		t.Helper()
		found, wrong, missing, added = 0, 0, 0, 0
		last = bytes.Clone(k.contents["msgstore.db"])
		op()
		s := NewScanner(root, Options{Cache: cache, CarryPages: true})
		future(s)
		if racy {
			s.now = time.Now // the database file changed just now
			// The clock goes back the hour future adds; the last whole
			// read's time goes with it, or it would count as a clock set
			// back (a whole read due).
			shiftWholeReads(cache, -time.Hour)
		}
		if err := s.Scan(context.Background(), k); err != nil {
			t.Fatalf("%s: scan: %v", name, err)
		}
		if k.incr["msgstore.db"] == whole {
			t.Fatalf("%s: read incrementally: %v, want %v", name, whole, !whole)
		}
		if whole && want == all {
			// Guesses only for pages in the -wal; others get none.
			missing = 0
		}
		if want != any && ((found > 0) != (want == all) || wrong+missing > 0) {
			t.Errorf("%s: previous versions found for %d changed pages, wrong for %d, missing for %d (%d pages added)", name, found, wrong, missing, added)
		}
	}
	msg := func() { insertMessage(t, db, next); next++ }
	step("first backup", none, func() {})
	whole = false
	step("one message", all, msg)
	step("edits", all, func() {
		for id := 1; id < 3000; id += 150 {
			mustExec(t, db, "UPDATE msg SET body = 'edited' || body WHERE id = ?", id)
		}
	})
	step("FULL checkpoint of frames the last read saw", none, func() { mustExec(t, db, "PRAGMA wal_checkpoint(FULL)") })
	step("message into the restarted log", all, msg)
	step("messages", all, func() { msg(); msg() })
	// The checkpoint copies into the database file frames the last read
	// never saw: a page with no earlier frame has lost its previous
	// version. Any guess is allowed; a wrong one is the backup's to catch.
	step("message and PASSIVE checkpoint", any, func() { msg(); mustExec(t, db, "PRAGMA wal_checkpoint(PASSIVE)") })
	step("message", all, msg)

	// A whole read whose database file is as the last read saw it: that
	// read came too soon after the file changed to trust its stat, and the
	// log restarted since, its new frames written over the slots past the
	// last read's (fewer would leave the read incremental, docs/sqlite.md
	// rule 3). The pages in the -wal get the file's versions.
	racy = true
	step("message and FULL checkpoint, read just after it", any, func() { msg(); mustExec(t, db, "PRAGMA wal_checkpoint(FULL)") })
	racy, whole = false, true
	step("messages into the restarted log", all, func() {
		for range 40 {
			msg()
		}
	})
}

// TestShmPages: the page numbers the wal-index holds for each frame are
// those of the frame headers, across the wal-index's first block (4062
// frames) into the next.
func TestShmPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "msgstore.db")
	db := appDB(t, path)
	createMessages(t, db, 10)
	for id := 11; id < 2300; id++ {
		insertMessage(t, db, id) // two commits: a frame or more each
	}
	shm := readShmHeader(path + "-shm")
	if !shm.valid || shm.mxFrame <= shmFirstPages {
		t.Fatalf("wal-index %+v: want more than %d frames", shm, shmFirstPages)
	}
	wal := openWAL(path+"-wal", 4096)
	if wal == nil {
		t.Fatal("no -wal")
	}
	defer wal.close()
	shmFile, err := os.Open(path + "-shm")
	if err != nil {
		t.Fatal(err)
	}
	defer shmFile.Close()
	for _, r := range [][2]uint32{{1, shm.mxFrame}, {shmFirstPages - 2, shmFirstPages + 3}, {shmFirstPages + 1, shm.mxFrame}, {7, 7}} {
		got := shmPages(shmFile, r[0], r[1])
		if len(got) != int(r[1]-r[0]+1) {
			t.Fatalf("frames %d..%d: %d page numbers", r[0], r[1], len(got))
		}
		for i := r[0]; i <= r[1]; i++ {
			if pgno, _, ok := wal.frame(i); !ok || pgno != got[i-r[0]] {
				t.Fatalf("frame %d: the wal-index says page %d, its header %d", i, got[i-r[0]], pgno)
			}
		}
	}
}

// TestPrevPagesKeepReadLock: finding the changed pages' frames through
// the wal-index happens inside the read transaction, and must not drop
// the read's lock on the -shm (closing any descriptor of a file drops
// every POSIX lock the process holds on it): a TRUNCATE checkpoint in
// another process must still find the reader in its way.
func TestPrevPagesKeepReadLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "msgstore.db")
	db := appDB(t, path)
	createMessages(t, db, 300)
	for id := 301; id < 320; id++ {
		insertMessage(t, db, id)
	}
	// The test's own descriptor of the -shm, closed after the reader's
	// connection, as the read keeps its own.
	shmFile, err := os.Open(path + "-shm")
	if err != nil {
		t.Fatal(err)
	}
	defer shmFile.Close()
	reader, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	reader.SetMaxOpenConns(1)
	tx, err := reader.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRow("SELECT count(*) FROM msg").Scan(&n); err != nil {
		t.Fatal(err)
	}
	insertMessage(t, db, 320) // a frame the reader's snapshot does not hold
	shm := shmHeaderOf(shmFile)
	wal := openWAL(path+"-wal", 4096)
	if wal == nil || !shm.valid {
		t.Fatal("no -wal or wal-index")
	}
	defer wal.close()
	prev := newPrevPages(path, shmFile, wal, shm.mxFrame, []int64{2, 3, 4}, 4096, 10)
	defer prev.close()
	if !checkpointNow(t, path, "TRUNCATE") {
		t.Fatal("a TRUNCATE checkpoint in another process emptied the log under an open read transaction once its previous pages were looked for")
	}
}

// shiftWholeReads moves the time of every database's last whole read in
// c by d.
func shiftWholeReads(c *FileCache, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for rel, e := range c.entries {
		if !e.WholeRead.IsZero() {
			e.WholeRead = e.WholeRead.Add(d)
			c.entries[rel] = e
		}
	}
}
