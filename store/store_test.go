package store_test

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

func TestRoundTripWithLiveWriter(t *testing.T) {
	e := newEnv(t)
	dbPath := filepath.Join(e.src, "msgstore.db")
	db := openChatDB(t, dbPath)
	db.insert(0, 3000, 100)
	jpeg := append([]byte{0xff, 0xd8, 0xff, 0xe0}, randBytes(1, 3<<20)...)
	writeFile(t, filepath.Join(e.src, "Media", "IMG-0001.jpg"), jpeg)
	writeFile(t, filepath.Join(e.src, "Media", "Voice Notes", "PTT-0001.opus"), randBytes(2, 200<<10))
	writeFile(t, filepath.Join(e.src, "settings.json"), []byte(`{"theme":"dark"}`))
	writeFile(t, filepath.Join(e.src, "empty.txt"), nil)
	if err := os.Chmod(filepath.Join(e.src, "settings.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("settings.json", filepath.Join(e.src, "link")); err != nil {
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
			db.insert(i, i+1, 1)
			committed.Store(int64(i + 1))
		}
	}()
	before := committed.Load()
	res, err := backup.Run(e.ctx, e.r, backup.Options{Source: e.src})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 0 {
		t.Fatalf("warnings: %v", res.Warnings)
	}
	if _, err := e.r.Sync(e.ctx); err != nil {
		t.Fatal(err)
	}

	dst, err := e.restoreFresh("")
	if err != nil {
		t.Fatal(err)
	}
	// Every file other than the database is identical, with mode and mtime.
	skipDB := func(rel string) bool { return strings.HasPrefix(rel, "msgstore.db") }
	want, got := dirDigest(t, e.src, skipDB), dirDigest(t, dst, skipDB)
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
	if err := rdb.QueryRow("SELECT body FROM messages WHERE id = 1234").Scan(&body); err != nil || body != messageBody(1234) {
		t.Fatalf("message 1234: %q, %v", body, err)
	}
}

func TestRemoteHoldsNoPlaintext(t *testing.T) {
	e := newEnv(t)
	db := openChatDB(t, filepath.Join(e.src, "ChatStorage.sqlite"))
	db.insert(0, 500, 100)
	writeFile(t, filepath.Join(e.src, "Media", "holiday-beach-photo.txt"), []byte(strings.Repeat("PLAINTEXTMEDIA ", 1000)))
	e.backup()
	for _, needle := range []string{"SECRETWORD42 ", "SECRETWORD", "ChatStorage", "holiday-beach-photo", "Media", "PLAINTEXTMEDIA", "messages_chat_ts", "SQLite format 3", "+4477009"} {
		if hits := containsInTree(t, e.remoteDir, []byte(needle)); len(hits) > 0 {
			t.Errorf("remote contains %q: %v", needle, hits)
		}
	}
	// The test would notice plaintext: the source does contain them.
	if hits := containsInTree(t, e.src, []byte("SECRETWORD42 ")); len(hits) == 0 {
		t.Fatal("test is broken: source has no marker")
	}
}

func TestSmallChangeAddsLittle(t *testing.T) {
	e := newEnv(t)
	db := openChatDB(t, filepath.Join(e.src, "msgstore.db"))
	db.insert(0, 120000, 4000)
	if _, err := db.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(e.src, "msgstore.db"))
	if fi.Size() < 18<<20 {
		t.Fatalf("database is %d bytes, want ~20 MB", fi.Size())
	}
	e.backup()
	before := remoteSize(t, e.remoteDir)

	db.insert(120000, 120100, 10)
	for i := 0; i < 100; i++ {
		id := (i*7919 + 13) % 120000
		if _, err := db.db.Exec("UPDATE messages SET body = body || ' (edited)' WHERE id = ?", id); err != nil {
			t.Fatal(err)
		}
	}
	res := e.backup()
	added := remoteSize(t, e.remoteDir) - before
	t.Logf("database %d bytes; second backup added %d bytes in %d blobs", fi.Size(), added, res.NewBlobs)
	if added > 1536<<10 {
		t.Fatalf("second backup added %d bytes, want at most 1.5 MiB", added)
	}
	if added != res.AddedBytes {
		t.Errorf("result says %d bytes added, remote grew by %d", res.AddedBytes, added)
	}
	dst, err := e.restoreFresh("")
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
	e := newEnv(t)
	writeFile(t, filepath.Join(e.src, "a.txt"), []byte("hello"))
	first := e.backup()
	n := len(deltaFiles(t, e.remoteDir))
	second := e.backup()
	if !second.Unchanged || second.Snapshot.ID != first.Snapshot.ID {
		t.Fatalf("second backup: unchanged=%v snapshot %s, want the first (%s)", second.Unchanged, second.Snapshot.ShortID(), first.Snapshot.ShortID())
	}
	if got := len(deltaFiles(t, e.remoteDir)); got != n {
		t.Fatalf("remote has %d deltas, want %d", got, n)
	}
	writeFile(t, filepath.Join(e.src, "b.txt"), []byte("world"))
	third := e.backup()
	if third.Unchanged || third.Snapshot.Seq != first.Snapshot.Seq+1 {
		t.Fatalf("third backup: %+v", third)
	}
	if len(e.r.Snapshots()) != 2 {
		t.Fatalf("snapshots: %v", e.r.Snapshots())
	}
}

func TestRestoreOlderSnapshot(t *testing.T) {
	e := newEnv(t)
	writeFile(t, filepath.Join(e.src, "a.txt"), []byte("version one"))
	first := e.backup()
	writeFile(t, filepath.Join(e.src, "a.txt"), []byte("version two, longer"))
	e.backup()
	dst, err := e.restoreFresh(first.Snapshot.ShortID())
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "a.txt")); string(b) != "version one" {
		t.Fatalf("restored %q", b)
	}
	if _, err := e.restoreFresh("ffffffff"); !errors.Is(err, store.ErrSnapshotNotFound) {
		t.Fatalf("unknown snapshot: %v", err)
	}
}

func TestRestoreRefusesNonEmptyTarget(t *testing.T) {
	e := newEnv(t)
	writeFile(t, filepath.Join(e.src, "a.txt"), []byte("x"))
	e.backup()
	dst := t.TempDir()
	writeFile(t, filepath.Join(dst, "keep.txt"), []byte("mine"))
	if _, err := restore.Run(e.ctx, e.r, restore.Options{Target: dst}); !errors.Is(err, restore.ErrTargetNotEmpty) {
		t.Fatalf("got %v, want ErrTargetNotEmpty", err)
	}
	if _, err := os.Stat(filepath.Join(dst, "a.txt")); !os.IsNotExist(err) {
		t.Fatal("restore wrote into a non-empty target")
	}
	if _, err := restore.Run(e.ctx, e.r, restore.Options{Target: dst, Force: true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "a.txt")); string(b) != "x" {
		t.Fatalf("forced restore wrote %q", b)
	}
}

func TestWrongKey(t *testing.T) {
	e := newEnv(t)
	writeFile(t, filepath.Join(e.src, "a.txt"), []byte("x"))
	e.backup()
	other, _ := crypt.NewKey()
	if _, err := e.openFresh(other); !errors.Is(err, store.ErrWrongKey) {
		t.Fatalf("got %v, want ErrWrongKey", err)
	}
}

func TestStateLock(t *testing.T) {
	e := newEnv(t)
	if _, err := store.Open(e.ctx, e.remote, e.key, store.Options{StateDir: e.state}); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second writer: %v, want ErrLocked", err)
	}
	ro, err := store.Open(e.ctx, e.remote, e.key, store.Options{StateDir: e.state, ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only beside a writer: %v", err)
	}
	ro.Close()
}

func TestSpoolSurvivesUnreachableRemote(t *testing.T) {
	e := newEnv(t)
	writeFile(t, filepath.Join(e.src, "a.txt"), []byte("first"))
	e.backup()
	writeFile(t, filepath.Join(e.src, "a.txt"), []byte("second"))
	res, err := backup.Run(e.ctx, e.r, backup.Options{Source: e.src})
	if err != nil {
		t.Fatal(err)
	}
	// Not flushed: a new process (after a crash) finds it in the spool.
	e.r.Close()
	r2, err := store.Open(e.ctx, e.remote, e.key, store.Options{StateDir: e.state})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if p := r2.Pending(); len(p) != 1 || p[0].Seq != res.Snapshot.Seq {
		t.Fatalf("pending after restart: %+v", p)
	}
	if _, err := r2.Sync(e.ctx); err != nil {
		t.Fatal(err)
	}
	dst, err := e.restoreFresh("")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "a.txt")); string(b) != "second" {
		t.Fatalf("restored %q", b)
	}
}

func TestCheck(t *testing.T) {
	e := newEnv(t)
	db := openChatDB(t, filepath.Join(e.src, "msgstore.db"))
	db.insert(0, 2000, 500)
	writeFile(t, filepath.Join(e.src, "Media", "a.mp4"), randBytes(3, 1<<20))
	e.backup()
	db.insert(2000, 2100, 50)
	e.backup()
	res, err := check.Run(e.ctx, e.r, check.Options{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deltas != 2 || res.Snapshots != 2 || res.ReadBytes != remoteSize(t, e.remoteDir)-configSize(t, e.remoteDir) {
		t.Fatalf("check result: %+v", res)
	}
}

func configSize(t *testing.T, dir string) int64 {
	fi, err := os.Stat(filepath.Join(dir, "config"))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
