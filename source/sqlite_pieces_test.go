package source

import (
	"context"
	"database/sql"
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
	rows, err := db.Query("SELECT data FROM sqlite_dbpage ORDER BY pgno")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []byte
	for rows.Next() {
		var p []byte
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p...)
	}
	if err := rows.Err(); err != nil {
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
