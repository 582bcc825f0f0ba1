package backup_test

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
)

// TestIncrementalLargeTokenCycles: a database of thousands of pages (its
// file cache token large enough for the store's memo and amended per
// cycle) restores exactly after each one-message cycle; the same file cache
// handed to another repository is stale there, and that backup reads the
// whole database and restores it exactly too.
func TestIncrementalLargeTokenCycles(t *testing.T) {
	e := storetest.NewEnv(t)
	dbPath := filepath.Join(e.Src, "msgstore.db")
	small, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=page_size(512)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := small.Exec("CREATE TABLE props(k TEXT)"); err != nil {
		t.Fatal(err)
	}
	small.Close()
	db := storetest.OpenChatDB(t, dbPath)
	if _, err := db.DB.Exec("PRAGMA wal_autocheckpoint=0"); err != nil {
		t.Fatal(err)
	}
	db.Insert(0, 15000, 1500)
	if n := len(livePages(t, dbPath)) / 512; n < 3000 {
		t.Fatalf("the database has %d pages, want at least 3000 (a token over the memo's threshold)", n)
	}
	verify := func(e *storetest.Env, what string) {
		t.Helper()
		want := livePages(t, dbPath)
		dst, err := e.RestoreFresh("")
		if err != nil {
			t.Fatalf("%s: restore: %v", what, err)
		}
		got, err := os.ReadFile(filepath.Join(dst, "msgstore.db"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: the restored database (%d bytes) is not what a full scan reads (%d bytes)", what, len(got), len(want))
		}
	}
	e.Backup()
	e.Backup() // a database written just now is read whole once more
	for i := range 6 {
		db.Insert(15000+i, 15001+i, 1)
		if res := e.Backup(); res.ReadBytes > 16<<10 {
			t.Fatalf("cycle %d read %d bytes: not incremental", i, res.ReadBytes)
		}
		verify(e, "one-message cycle")
	}

	other := storetest.NewEnv(t)
	other.Src = e.Src
	cache, err := os.ReadFile(filepath.Join(e.Store.StateDir(), "filecache"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other.Store.StateDir(), "filecache"), cache, 0o600); err != nil {
		t.Fatal(err)
	}
	db.Insert(20000, 20001, 1)
	size := int64(len(livePages(t, dbPath)))
	if res := other.Backup(); res.ReadBytes < size {
		t.Fatalf("another repository's file cache: read %d bytes of a %d-byte database, want all of it", res.ReadBytes, size)
	}
	verify(other, "another repository's file cache")
}
