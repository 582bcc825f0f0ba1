package backup_test

import (
	"database/sql"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
)

func TestRoundTripWithLiveWriter(t *testing.T) {
	e := storetest.NewEnv(t)
	dbPath := filepath.Join(e.Src, "msgstore.db")
	db := storetest.OpenChatDB(t, dbPath)
	db.Insert(0, 3000, 100)
	jpeg := append([]byte{0xff, 0xd8, 0xff, 0xe0}, storetest.RandBytes(1, 3<<20)...)
	storetest.WriteFile(t, filepath.Join(e.Src, "Media", "IMG-0001.jpg"), jpeg)
	storetest.WriteFile(t, filepath.Join(e.Src, "Media", "Voice Notes", "PTT-0001.opus"), storetest.RandBytes(2, 200<<10))
	storetest.WriteFile(t, filepath.Join(e.Src, "settings.json"), []byte(`{"theme":"dark"}`))
	storetest.WriteFile(t, filepath.Join(e.Src, "empty.txt"), nil)
	if err := os.Chmod(filepath.Join(e.Src, "settings.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("settings.json", filepath.Join(e.Src, "link")); err != nil {
		t.Fatal(err)
	}

	// A writer commits one message per transaction for the whole backup.
	var committed atomic.Int64
	committed.Store(3000)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 3000; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			db.Insert(i, i+1, 1)
			committed.Store(int64(i + 1))
		}
	}()
	before := committed.Load()
	res, err := backup.Run(e.Ctx, e.Store, backup.Options{Source: e.Src})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 0 {
		t.Fatalf("warnings: %v", res.Warnings)
	}
	if _, err := e.Store.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}

	dst, err := e.RestoreFresh("")
	if err != nil {
		t.Fatal(err)
	}
	// Every file other than the database is identical, with mode and mtime.
	skipDB := func(rel string) bool { return strings.HasPrefix(rel, "msgstore.db") }
	want, got := storetest.DirDigest(t, e.Src, skipDB), storetest.DirDigest(t, dst, skipDB)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: restored %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("restored %d entries, want %d: %v", len(got), len(want), got)
	}
	if target, err := os.Readlink(filepath.Join(dst, "link")); err != nil || target != "settings.json" {
		t.Errorf("symlink: %q, %v", target, err)
	}
	// No -wal or -shm was stored; the database is one consistent file.
	if _, err := os.Stat(filepath.Join(dst, "msgstore.db-wal")); !os.IsNotExist(err) {
		t.Errorf("a -wal file was restored: %v", err)
	}
	rdb, err := sql.Open("sqlite", "file:"+filepath.Join(dst, "msgstore.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	var ic string
	if err := rdb.QueryRow("PRAGMA integrity_check").Scan(&ic); err != nil || ic != "ok" {
		t.Fatalf("integrity_check: %q, %v", ic, err)
	}
	var n, maxID int64
	if err := rdb.QueryRow("SELECT count(*), max(id) FROM messages").Scan(&n, &maxID); err != nil {
		t.Fatal(err)
	}
	// A consistent prefix of the writer's history that holds everything
	// committed before the backup began.
	if n != maxID+1 || n < before {
		t.Fatalf("restored %d messages (max id %d); %d were committed before the backup", n, maxID, before)
	}
	var body string
	if err := rdb.QueryRow("SELECT body FROM messages WHERE id = 1234").Scan(&body); err != nil || body != storetest.MessageBody(1234) {
		t.Fatalf("message 1234: %q, %v", body, err)
	}
}

func TestRemoteHoldsNoPlaintext(t *testing.T) {
	e := storetest.NewEnv(t)
	db := storetest.OpenChatDB(t, filepath.Join(e.Src, "ChatStorage.sqlite"))
	db.Insert(0, 500, 100)
	storetest.WriteFile(t, filepath.Join(e.Src, "Media", "holiday-beach-photo.txt"), []byte(strings.Repeat("PLAINTEXTMEDIA ", 1000)))
	e.Backup()
	for _, needle := range []string{"SECRETWORD42 ", "SECRETWORD", "ChatStorage", "holiday-beach-photo", "Media", "PLAINTEXTMEDIA", "messages_chat_ts", "SQLite format 3", "+4477009"} {
		if hits := storetest.ContainsInTree(t, e.RemoteDir, []byte(needle)); len(hits) > 0 {
			t.Errorf("remote contains %q: %v", needle, hits)
		}
	}
	// The test would notice plaintext: the source does contain them.
	if hits := storetest.ContainsInTree(t, e.Src, []byte("SECRETWORD42 ")); len(hits) == 0 {
		t.Fatal("test is broken: source has no marker")
	}
}

func TestSmallChangeAddsLittle(t *testing.T) {
	e := storetest.NewEnv(t)
	db := storetest.OpenChatDB(t, filepath.Join(e.Src, "msgstore.db"))
	db.Insert(0, 120000, 4000)
	if _, err := db.DB.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(e.Src, "msgstore.db"))
	if fi.Size() < 18<<20 {
		t.Fatalf("database is %d bytes, want ~20 MB", fi.Size())
	}
	e.Backup()
	before := storetest.RemoteSize(t, e.RemoteDir)

	db.Insert(120000, 120100, 10)
	for i := 0; i < 100; i++ {
		id := (i*7919 + 13) % 120000
		if _, err := db.DB.Exec("UPDATE messages SET body = body || ' (edited)' WHERE id = ?", id); err != nil {
			t.Fatal(err)
		}
	}
	res := e.Backup()
	added := storetest.RemoteSize(t, e.RemoteDir) - before
	t.Logf("database %d bytes; second backup added %d bytes in %d blobs", fi.Size(), added, res.NewBlobs)
	if added > 1536<<10 {
		t.Fatalf("second backup added %d bytes, want at most 1.5 MiB", added)
	}
	if added != res.AddedBytes {
		t.Errorf("result says %d bytes added, remote grew by %d", res.AddedBytes, added)
	}
	dst, err := e.RestoreFresh("")
	if err != nil {
		t.Fatal(err)
	}
	rdb, err := sql.Open("sqlite", "file:"+filepath.Join(dst, "msgstore.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	var n int
	var body string
	if err := rdb.QueryRow("SELECT count(*) FROM messages").Scan(&n); err != nil || n != 120100 {
		t.Fatalf("restored %d messages, %v", n, err)
	}
	if err := rdb.QueryRow("SELECT body FROM messages WHERE id = 13").Scan(&body); err != nil || !strings.HasSuffix(body, "(edited)") {
		t.Fatalf("edit lost: %q %v", body, err)
	}
}

func TestUnchangedSourceWritesNothing(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("hello"))
	first := e.Backup()
	n := len(storetest.DeltaFiles(t, e.RemoteDir))
	second := e.Backup()
	if !second.Unchanged || second.Snapshot.ID != first.Snapshot.ID {
		t.Fatalf("second backup: unchanged=%v snapshot %s, want the first (%s)", second.Unchanged, second.Snapshot.ShortID(), first.Snapshot.ShortID())
	}
	if got := len(storetest.DeltaFiles(t, e.RemoteDir)); got != n {
		t.Fatalf("remote has %d deltas, want %d", got, n)
	}
	storetest.WriteFile(t, filepath.Join(e.Src, "b.txt"), []byte("world"))
	third := e.Backup()
	if third.Unchanged || third.Snapshot.Seq != first.Snapshot.Seq+1 {
		t.Fatalf("third backup: %+v", third)
	}
	if len(e.Store.Snapshots()) != 2 {
		t.Fatalf("snapshots: %v", e.Store.Snapshots())
	}
}
