package watcher

import (
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"
)

// closedWALDatabase makes db/msgstore.db under root the way an app leaves
// it when it closed it: in WAL mode, with no -wal or -shm (SQLite
// checkpoints and removes them when the last connection closes).
func closedWALDatabase(t *testing.T, root string) {
	t.Helper()
	p := filepath.Join(root, "db", "msgstore.db")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	db := openDB(t, "file:"+p+"?_pragma=journal_mode(wal)")
	for _, q := range []string{"CREATE TABLE m(body TEXT)", "INSERT INTO m VALUES('hello')"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"-wal", "-shm"} {
		if _, err := os.Lstat(p + s); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the closed database has its %s file (%v)", s, err)
		}
	}
}

func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// readDB reads the database at p the way the backup's source does: on a
// read-only connection, inside a read transaction.
func readDB(t *testing.T, p string) {
	t.Helper()
	db := openDB(t, "file:"+p+"?mode=ro&_pragma=query_only(1)")
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow("SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// A reader of a database no app has open creates its -wal (empty) and
// -shm, and as the only connection writes a new wal-index into the -shm
// each time it opens: nothing of that changes the database. Until
// 2026-12-07 the watcher reported it as a change, and the daemon, whose
// every cycle reads the database so, ran a cycle every quiet period.
func TestWatchReaderOfClosedDatabaseIsNoChange(t *testing.T) {
	h := startWatcher(t, func(root string) { closedWALDatabase(t, root) }, Options{}, nil)
	p := filepath.Join(h.root, "db", "msgstore.db")
	for range 3 {
		readDB(t, p)
	}
	// Events arrive in order: the reads' would show by the later write.
	h.write("zz", "x")
	seen, _ := h.waitFor("zz")
	if seen["db/msgstore.db"] {
		t.Fatalf("reading the closed database was reported as a change to it: %v", keys(seen))
	}

	// The app's commit is a change, and so is its close (a checkpoint
	// writes the database file), after readers made the -wal and -shm.
	app := openDB(t, "file:"+p+"?_pragma=journal_mode(wal)")
	if _, err := app.Exec("INSERT INTO m VALUES('again')"); err != nil {
		t.Fatal(err)
	}
	h.waitFor("db/msgstore.db")
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	h.waitFor("db/msgstore.db")
}
