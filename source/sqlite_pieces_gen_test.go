package source

import (
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// A first view (startPieces) whose -wal is of another generation than the
// mark planRead computed: the tail it records starts at mark.Frame+1 of the
// new generation, so frames 1..mark.Frame of that generation are missing
// from what a later TRUNCATE case trusts.
func TestPiecesFirstViewOfAnotherGeneration(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "msgstore.db")
	db := appDB(t, path)
	createMessages(t, db, 200)
	mustExec(t, db, "PRAGMA wal_checkpoint(PASSIVE)") // complete: the next write restarts the log
	file, err := lstatID(path)
	if err != nil {
		t.Fatal(err)
	}
	rdb, err := sql.Open("sqlite", sqliteDSN(path, 1000))
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	rdb.SetMaxOpenConns(1)
	shm := readShmHeader(path + "-shm")
	tx, err := rdb.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var n, pageSize int
	var pageCount int64
	if err := tx.QueryRow("SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		t.Fatal(err)
	}
	tx.QueryRow("PRAGMA page_size").Scan(&pageSize)
	tx.QueryRow("PRAGMA page_count").Scan(&pageCount)
	w1 := openWAL(path+"-wal", pageSize)
	mark := newMark(w1, shm, readShmHeader(path+"-shm"), pageCount, false) // planRead's mark
	w1.close()
	if mark.Frame == 0 {
		t.Fatal("setup: no mark")
	}
	// The app restarts the log (the reader holds read-mark 0) and writes
	// past mark.Frame: first an edit of an early page, then inserts.
	mustExec(t, db, "UPDATE msg SET body = randomblob(length(body)) WHERE id = 1")
	for id := 1000; ; id++ {
		insertMessage(t, db, id)
		w := openWAL(path+"-wal", pageSize)
		_, last := w.pagesAfter(1)
		same := w.hdr == mark.Hdr
		w.close()
		if same {
			t.Fatal("setup: the log was not restarted")
		}
		if last > mark.Frame+4 {
			break
		}
	}
	w2 := openWAL(path+"-wal", pageSize)
	all, _ := w2.pagesAfter(1)
	view := newView(w2, mark, readShmHeader(path+"-shm")) // startPieces
	w2.close()
	tx.Rollback()
	var busy, lf, done int
	if err := db.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &lf, &done); err != nil || busy != 0 {
		t.Fatalf("truncate: %v busy=%d", err, busy)
	}
	p := &pieces{abs: path, file: file, view: view, stale: map[int64]bool{}}
	shmFile, err := os.Open(path + "-shm")
	if err != nil {
		t.Fatal(err)
	}
	defer shmFile.Close()
	pages, _, why := p.gap(pageSize, shmFile, readShmHeader(path+"-shm"), pageCount)
	if why != "" {
		t.Logf("restart: %s (safe)", why)
		return
	}
	var missing []int64
	for _, pg := range all {
		if !slices.Contains(pages, pg) {
			missing = append(missing, pg)
		}
	}
	if len(missing) > 0 {
		t.Errorf("gap trusts the TRUNCATE but misses pages %v changed in the new generation's first %d frames", missing, mark.Frame)
	}
}

// readShmHeader reads the wal-index header of the -shm file at path, for
// tests only: closing the descriptor drops this process's locks on the
// file (see shmHeaderOf).
func readShmHeader(path string) shmHeader {
	f, err := os.Open(path)
	if err != nil {
		return shmHeader{}
	}
	defer f.Close()
	return shmHeaderOf(f)
}
