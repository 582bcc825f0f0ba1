package source

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSQLiteWALConsistentWhileWriting reads a WAL database while a writer
// keeps committing, and forces at least 30 commits (with checkpoints) to land
// between the snapshot and the end of the read.
func TestSQLiteWALConsistentWhileWriting(t *testing.T) {
	root := t.TempDir()
	dbPath := filepath.Join(root, "msgstore.db")
	db := openDB(t, dbPath, "WAL")
	createMessages(t, db, 2000)

	var committed atomic.Int64
	committed.Store(2000)
	commits := make(chan struct{}, 1)
	stop := make(chan struct{})
	writerErr := make(chan error, 1)
	go func() {
		writerErr <- func() error {
			for i := int64(2001); ; i++ {
				select {
				case <-stop:
					return nil
				default:
				}
				if err := commitMessage(db, i); err != nil {
					return err
				}
				committed.Store(i)
				if i%10 == 0 {
					// Checkpoints move WAL frames into the database file
					// under the reader's feet.
					if _, err := db.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
						return err
					}
				}
				select {
				case commits <- struct{}{}:
				default:
				}
			}
		}()
	}()
	stopWriter := sync.OnceValue(func() error { close(stop); return <-writerErr })
	t.Cleanup(func() { stopWriter() })

	var pages []byte
	var sawCompanions bool
	r := newRecorder(t)
	r.onFile = func(info FileInfo, c Content) ([]byte, error) {
		if info.Kind != KindSQLite {
			t.Errorf("%s: kind %v, want sqlite", info.Path, info.Kind)
		}
		_, errW := os.Stat(dbPath + "-wal")
		_, errS := os.Stat(dbPath + "-shm")
		sawCompanions = errW == nil && errS == nil
		first, err := c.Next()
		if err != nil {
			return nil, err
		}
		pages = append(pages, first.Data...)
		// Let the writer commit more while this read transaction is open.
		target := committed.Load() + 30
		deadline := time.After(30 * time.Second)
		for committed.Load() < target {
			select {
			case <-commits:
			case <-deadline:
				return nil, errors.New("writer made no progress")
			}
		}
		rest, _, err := readAll(c)
		if err != nil {
			return nil, err
		}
		pages = append(pages, rest...)
		if int64(len(pages)) != info.Size || len(pages)%info.PageSize != 0 {
			t.Errorf("read %d bytes, FileInfo says size %d, page size %d", len(pages), info.Size, info.PageSize)
		}
		return []byte("tok"), nil
	}
	// Let the writer get going, so the snapshot is taken mid-stream.
	for committed.Load() < 2020 {
		select {
		case <-commits:
		case <-time.After(30 * time.Second):
			t.Fatal("writer made no progress")
		}
	}
	before := committed.Load()
	if err := NewScanner(root, Options{}).Scan(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if err := stopWriter(); err != nil {
		t.Fatalf("writer: %v", err)
	}
	final := committed.Load()

	if !sawCompanions {
		t.Fatal("the -wal and -shm files should exist during the read")
	}
	if got := strings.Join(r.events, " "); got != "file:msgstore.db dir:" {
		t.Fatalf("events = %q, want only the database and the root (no -wal/-shm)", got)
	}
	k := restoreDB(t, pages)
	if int64(k) < before {
		t.Fatalf("restored %d rows, but %d were committed before the scan", k, before)
	}
	if int64(k) >= final {
		t.Fatalf("restored %d rows of %d: commits made during the read leaked into the snapshot", k, final)
	}
	t.Logf("committed before scan %d, in snapshot %d, at the end %d", before, k, final)
}

// TestSQLiteRollbackJournal reads a DELETE-mode database, is refused while a
// writer holds it exclusively (the -journal is never visited), and reads it
// once the writer commits.
func TestSQLiteRollbackJournal(t *testing.T) {
	root := t.TempDir()
	dbPath := filepath.Join(root, "chat.sqlite")
	db := openDB(t, dbPath, "DELETE")
	createMessages(t, db, 500)

	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "INSERT INTO msg VALUES(501, x'00'); UPDATE meta SET n=501"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dbPath + "-journal"); err != nil {
		t.Fatalf("the writer should have a journal now: %v", err)
	}

	s := NewScanner(root, Options{Cache: emptyCache(t)})
	s.busyBudget = 200 * time.Millisecond
	r := scan(t, s)
	if got := strings.Join(r.events, " "); got != "warn:chat.sqlite dir:" {
		t.Fatalf("while locked: events = %q, want a warning for the database only", got)
	}
	if err := r.warns["chat.sqlite"][0]; !errors.Is(err, errSQLiteLater) {
		t.Fatalf("warning = %v, want it to say the database is locked", err)
	}

	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	r = scan(t, s)
	if got := strings.Join(r.events, " "); got != "file:chat.sqlite dir:" {
		t.Fatalf("after commit: events = %q", got)
	}
	info := r.infos["chat.sqlite"]
	if info.Kind != KindSQLite || info.PageSize != 4096 || info.Size != int64(len(r.contents["chat.sqlite"])) {
		t.Fatalf("info = %+v", info)
	}
	if k := restoreDB(t, r.contents["chat.sqlite"]); k != 501 {
		t.Fatalf("restored %d rows, want 501", k)
	}
}

// TestSQLitePersistJournalSkipped: a leftover (non-hot) -journal of a
// recognised database is never visited, a same-named file of a non-database is.
func TestSQLitePersistJournalSkipped(t *testing.T) {
	root := t.TempDir()
	db := openDB(t, filepath.Join(root, "a.db"), "PERSIST")
	createMessages(t, db, 10)
	if _, err := os.Stat(filepath.Join(root, "a.db-journal")); err != nil {
		t.Fatalf("PERSIST mode should leave a journal: %v", err)
	}
	writeFile(t, filepath.Join(root, "notes.txt"), []byte("hello"))
	writeFile(t, filepath.Join(root, "notes.txt-wal"), []byte("not a companion"))
	r := scan(t, NewScanner(root, Options{}))
	want := "file:a.db file:notes.txt file:notes.txt-wal dir:"
	if got := strings.Join(r.events, " "); got != want {
		t.Fatalf("events = %q, want %q", got, want)
	}
	if k := restoreDB(t, r.contents["a.db"]); k != 10 {
		t.Fatalf("restored %d rows", k)
	}
}

// TestSQLiteCorruptFallsBack: a file with the SQLite header that SQLite
// cannot open is backed up byte for byte as a plain file, with a warning.
func TestSQLiteCorruptFallsBack(t *testing.T) {
	for name, pageSize := range map[string][2]byte{"bad page size": {0x12, 0x34}, "garbage pages": {0x10, 0x00}} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			data := make([]byte, 40960)
			rand.Read(data)
			copy(data, sqliteMagic)
			data[16], data[17] = pageSize[0], pageSize[1]
			writeFile(t, filepath.Join(root, "broken.db"), data)
			writeFile(t, filepath.Join(root, "broken.db-wal"), []byte("never copied"))
			r := scan(t, NewScanner(root, Options{}))
			if len(r.warns["broken.db"]) != 1 || !notADatabase(r.warns["broken.db"][0]) {
				t.Fatalf("warnings = %v, want one saying broken.db is not a database", r.warns)
			}
			if info := r.infos["broken.db"]; info.Kind != KindFile || info.Size != int64(len(data)) {
				t.Fatalf("info = %+v, want a plain file of %d bytes", info, len(data))
			}
			if string(r.contents["broken.db"]) != string(data) {
				t.Fatal("fallback content differs from the file")
			}
			if _, ok := r.infos["broken.db-wal"]; ok {
				t.Fatal("the -wal of a file with the SQLite header was visited")
			}
		})
	}
}

// TestSQLiteAbandonedContentReleased: a visitor that stops reading early does
// not leave the read transaction open (a TRUNCATE checkpoint can complete),
// and the unverified result is not trusted by the cache.
func TestSQLiteAbandonedContentReleased(t *testing.T) {
	root := t.TempDir()
	dbPath := filepath.Join(root, "m.db")
	db := openDB(t, dbPath, "WAL")
	createMessages(t, db, 300)
	cache := emptyCache(t)
	s := NewScanner(root, Options{Cache: cache})
	future(s)
	r := newRecorder(t)
	r.onFile = func(info FileInfo, c Content) ([]byte, error) {
		if _, err := c.Next(); err != nil {
			return nil, err
		}
		return []byte("partial"), nil
	}
	if err := s.Scan(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	var busy, logFrames, ckpt int
	if err := db.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &ckpt); err != nil {
		t.Fatal(err)
	}
	if busy != 0 {
		t.Fatal("a reader still holds the database after Scan returned")
	}
	if e := cache.entries["m.db"]; !e.Reread {
		t.Fatal("a database that was not read to the end must be read again next time")
	}
}

// TestSQLitePagePlanStreams proves the page query streams: SQLite does not
// sort (and so buffer) the pages for ORDER BY pgno.
func TestSQLitePagePlanStreams(t *testing.T) {
	root := t.TempDir()
	dbPath := filepath.Join(root, "m.db")
	createMessages(t, openDB(t, dbPath, "WAL"), 10)
	c, err := openSQLiteOnce(context.Background(), "m.db", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	rows, err := c.tx.Query("EXPLAIN QUERY PLAN SELECT pgno, data FROM sqlite_dbpage ORDER BY pgno")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if len(plan) == 0 || strings.Contains(strings.Join(plan, ";"), "TEMP B-TREE") {
		t.Fatalf("plan %q sorts the pages in memory", plan)
	}
}

func emptyCache(t testing.TB) *FileCache {
	t.Helper()
	c, err := LoadFileCache(filepath.Join(t.TempDir(), "cache"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSQLiteWALClosedCleanly: a WAL database whose app has exited (no -wal,
// no -shm) is read through SQLite too.
func TestSQLiteWALClosedCleanly(t *testing.T) {
	root := t.TempDir()
	dbPath := filepath.Join(root, "m.db")
	db := openDB(t, dbPath, "WAL")
	createMessages(t, db, 50)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dbPath + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("test premise: the -wal should be gone after a clean close: %v", err)
	}
	s := NewScanner(root, Options{Cache: emptyCache(t)})
	future(s)
	r := scan(t, s)
	if info := r.infos["m.db"]; info.Kind != KindSQLite || len(r.warns) != 0 {
		t.Fatalf("info %+v, warnings %v", info, r.warns)
	}
	if k := restoreDB(t, r.contents["m.db"]); k != 50 {
		t.Fatalf("restored %d rows", k)
	}
	// SQLite's reader created an empty -wal and a -shm (as the app would);
	// they are companions, and the database counts as unchanged.
	r = scan(t, s)
	if got := strings.Join(r.events, " "); got != "unchanged:m.db dir:" {
		t.Fatalf("second scan: %q", got)
	}
}
