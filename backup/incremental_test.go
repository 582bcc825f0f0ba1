package backup_test

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
)

// livePages reads every page of the database at path through SQLite, as a
// full scan does (the writer is idle meanwhile).
func livePages(t *testing.T, path string) []byte {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
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

// checkRestoredDB restores the newest snapshot into a fresh directory and
// checks that its msgstore.db is want, what a full scan read.
func checkRestoredDB(t *testing.T, e *storetest.Env, name string, want []byte) {
	t.Helper()
	dst, err := e.RestoreFresh("")
	if err != nil {
		t.Fatalf("%s: restore: %v", name, err)
	}
	got, err := os.ReadFile(filepath.Join(dst, "msgstore.db"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: the restored database (%d bytes) is not what a full scan reads (%d bytes)", name, len(got), len(want))
	}
}

// A backup of a live WAL database reads only the pages that changed, and
// what it stores restores to exactly what a full scan reads.
func TestIncrementalDatabaseCycles(t *testing.T) {
	e := storetest.NewEnv(t)
	dbPath := filepath.Join(e.Src, "msgstore.db")
	db := storetest.OpenChatDB(t, dbPath)
	if _, err := db.DB.Exec("PRAGMA wal_autocheckpoint=0"); err != nil {
		t.Fatal(err)
	}
	db.Insert(0, 20000, 2000)
	next := 20000
	exec := func(q string) {
		if _, err := db.DB.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	cycles := []struct {
		name    string
		op      func()
		maxRead int64 // 0: the whole database is read
	}{
		{"first backup", func() {}, 0},
		{"one message", func() { db.Insert(next, next+1, 1); next++ }, 16 << 10},
		{"ten messages", func() { db.Insert(next, next+10, 1); next += 10 }, 64 << 10},
		{"message and PASSIVE checkpoint", func() { db.Insert(next, next+1, 1); next++; exec("PRAGMA wal_checkpoint(PASSIVE)") }, 16 << 10},
		{"TRUNCATE checkpoint", func() { db.Insert(next, next+1, 1); next++; exec("PRAGMA wal_checkpoint(TRUNCATE)") }, 0},
	}
	for _, c := range cycles {
		c.op()
		res := e.Backup()
		want := livePages(t, dbPath)
		if c.maxRead == 0 && res.ReadBytes < int64(len(want)) {
			t.Errorf("%s: read %d bytes, want the whole database (%d)", c.name, res.ReadBytes, len(want))
		}
		if c.maxRead != 0 && res.ReadBytes > c.maxRead {
			t.Errorf("%s: read %d bytes of a %d-byte database, want at most %d", c.name, res.ReadBytes, len(want), c.maxRead)
		}
		checkRestoredDB(t, e, c.name, want)
		t.Logf("%s: read %d of %d bytes", c.name, res.ReadBytes, len(want))
	}
}
