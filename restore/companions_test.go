package restore_test

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/restore"
)

// A database is backed up as one consistent image; its -wal, -shm and
// -journal never are (source/sqlite.go). A restore --force into the chat
// app's own directory must not leave the app's companions beside the
// database it writes: SQLite replays a -wal (or rolls back a hot
// -journal) whose own checksums hold, whatever database file it finds.

var companions = []string{"-wal", "-shm", "-journal"}

// copyFiles copies the regular files of src (not below it) into dst, as
// they are now: the app's directory while its writer is open.
func copyFiles(t *testing.T, src, dst string) {
	t.Helper()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// appRead is what the app sees when it opens the database: a read-write
// connection (a read-only one may not roll a hot journal back), every
// message hashed; a database SQLite finds malformed reads as the error.
func appRead(path string) string {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return "open: " + err.Error()
	}
	defer db.Close()
	rows, err := db.Query(`SELECT id, chat, sender, body, ts FROM messages ORDER BY id`)
	if err != nil {
		return "query: " + err.Error()
	}
	defer rows.Close()
	h := sha256.New()
	n := 0
	for rows.Next() {
		var id, chat, ts int64
		var sender, body string
		if err := rows.Scan(&id, &chat, &sender, &body, &ts); err != nil {
			return "scan: " + err.Error()
		}
		fmt.Fprintf(h, "%d|%d|%s|%s|%d\n", id, chat, sender, body, ts)
		n++
	}
	if err := rows.Err(); err != nil {
		return "rows: " + err.Error()
	}
	var check string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil {
		return "integrity_check: " + err.Error()
	}
	return fmt.Sprintf("%d rows %x, integrity %s", n, h.Sum(nil), check)
}

// restoreOverApp restores snapshot snap of e with --force into a copy of
// the app's directory as it is now, and into a new directory, and
// compares the two: the database's bytes, its companions, what SQLite
// reads from it.
func restoreOverApp(t *testing.T, e *storetest.Env, snap string, staleWant string) {
	t.Helper()
	dst := t.TempDir()
	copyFiles(t, e.Src, dst)
	if fi, err := os.Stat(filepath.Join(dst, "msgstore.db"+staleWant)); err != nil || fi.Size() == 0 {
		t.Fatalf("the app's directory holds no %s with content to go stale (%v)", staleWant, err)
	}
	fresh, err := e.RestoreFresh(snap)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res, err := restore.Run(e.Ctx, r, restore.Options{Snapshot: snap, Target: dst, Force: true})
	if err != nil {
		t.Fatalf("restore --force over the app's directory: %v", err)
	}
	if !slices.Contains(res.Companions, "msgstore.db"+staleWant) {
		t.Errorf("the restore reports removing %v, want msgstore.db%s among them", res.Companions, staleWant)
	}

	a, _ := os.ReadFile(filepath.Join(dst, "msgstore.db"))
	b, _ := os.ReadFile(filepath.Join(fresh, "msgstore.db"))
	if !bytes.Equal(a, b) {
		t.Errorf("the database restored with --force differs byte for byte from one restored into a new directory")
	}
	// Before SQLite opens it (which makes a -shm, and rolls a journal back).
	for _, s := range companions {
		if _, err := os.Lstat(filepath.Join(dst, "msgstore.db"+s)); err == nil {
			t.Errorf("msgstore.db%s of the app's newer state is left beside the restored database", s)
		}
	}
	want := appRead(filepath.Join(fresh, "msgstore.db"))
	if got := appRead(filepath.Join(dst, "msgstore.db")); got != want {
		t.Errorf("the app reads the database restored with --force as\n  %s\nthe snapshot holds\n  %s", got, want)
	}
}

// TestRestoreForceOverStaleWAL: the app wrote on after snapshot A and has
// not checkpointed; A restored over a copy of its directory must read as
// A, not as A with the app's later frames applied.
func TestRestoreForceOverStaleWAL(t *testing.T) {
	e := storetest.NewEnv(t)
	db := storetest.OpenChatDB(t, filepath.Join(e.Src, "msgstore.db"))
	db.Insert(0, 400, 100)
	if _, err := db.DB.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	a := e.Backup().Snapshot.ShortID()
	// The app writes on; nothing reaches the database file.
	if _, err := db.DB.Exec(`PRAGMA wal_autocheckpoint=0`); err != nil {
		t.Fatal(err)
	}
	db.Insert(400, 700, 100)
	if _, err := db.DB.Exec(`UPDATE messages SET body = 'edited later' WHERE id % 3 = 0`); err != nil {
		t.Fatal(err)
	}
	restoreOverApp(t, e, a, "-wal")
}

// TestRestoreForceOverHotJournal: the same for a rollback-journal
// database the app was writing (a transaction open, its -journal holding
// the pages it changes) when its directory was copied.
func TestRestoreForceOverHotJournal(t *testing.T) {
	e := storetest.NewEnv(t)
	// synchronous=OFF: the journal's header counts no records, SQLite
	// takes every record the file holds (a synced journal counts them).
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.Src, "msgstore.db")+"?_pragma=journal_mode(DELETE)&_pragma=synchronous(OFF)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE messages(id INTEGER PRIMARY KEY, chat INTEGER NOT NULL, sender TEXT NOT NULL, body TEXT NOT NULL, ts INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	insert := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := db.Exec(`INSERT INTO messages VALUES(?,?,?,?,?)`, i, i%37, "+44", storetest.MessageBody(i), 1700000000+i); err != nil {
				t.Fatal(err)
			}
		}
	}
	insert(0, 300)
	a := e.Backup().Snapshot.ShortID()
	// Committed after A: the rows A holds change (the journal below then
	// holds pages that differ from A's), and more arrive.
	if _, err := db.Exec(`UPDATE messages SET body = 'edited later: ' || body WHERE id % 2 = 0`); err != nil {
		t.Fatal(err)
	}
	insert(300, 400)
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`UPDATE messages SET body = 'being edited'`); err != nil {
		t.Fatal(err)
	}
	restoreOverApp(t, e, a, "-journal")
}

// TestRestoreForceKeepsCompanionsWhenPlacingFails: the database cannot
// take its name (a directory holds it), so the restore fails. The -wal
// and -shm beside that name are the old database's (its uncheckpointed
// transactions): they are still there, byte for byte, and no temporary
// name is left; with the file made unnamed and under a temporary name.
func TestRestoreForceKeepsCompanionsWhenPlacingFails(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.OpenChatDB(t, filepath.Join(e.Src, "msgstore.db")).Insert(0, 200, 100)
	e.Backup()
	for _, unnamed := range []bool{true, false} {
		t.Run(fmt.Sprint("unnamed=", unnamed), func(t *testing.T) {
			restore.SetUnnamedFiles(t, unnamed)
			placingFails(t, e)
		})
	}
}

// placingFails restores e's newest snapshot over a directory named as its
// database, beside an old -wal and -shm, and checks they are kept.
func placingFails(t *testing.T, e *storetest.Env) {
	dst := t.TempDir()
	storetest.WriteFile(t, filepath.Join(dst, "msgstore.db", "in the way"), []byte("a directory of the database's name"))
	old := map[string][]byte{
		"msgstore.db-wal": storetest.RandBytes(1, 40<<10),
		"msgstore.db-shm": storetest.RandBytes(2, 32<<10),
	}
	for name, data := range old {
		storetest.WriteFile(t, filepath.Join(dst, name), data)
	}
	r, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res, err := restore.Run(e.Ctx, r, restore.Options{Target: dst, Force: true})
	if err == nil {
		t.Fatal("the database was restored over a directory of its name")
	}
	for name, data := range old {
		if b, err := os.ReadFile(filepath.Join(dst, name)); err != nil || !bytes.Equal(b, data) {
			t.Errorf("%s after a restore that could not place the database: %d bytes (%v), want the old %d bytes", name, len(b), err, len(data))
		}
	}
	if res != nil && len(res.Companions) > 0 {
		t.Errorf("the failed restore reports removing %v", res.Companions)
	}
	ents, _ := os.ReadDir(dst)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{"msgstore.db", "msgstore.db-shm", "msgstore.db-wal"}; !slices.Equal(names, want) {
		t.Errorf("the target holds %v after the failed restore, want %v", names, want)
	}
}
