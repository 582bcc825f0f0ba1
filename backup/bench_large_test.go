package backup_test

import (
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/internal/cputime"
	"github.com/chatsafe/chatsafe/internal/storetest"
)

// largePages is the page count of BenchmarkOneMessageCycleLarge's database:
// a 1 GB database of 4 KB pages has 258k, and the file cache token holds
// one chunk reference per page.
const largePages = 260000

// BenchmarkOneMessageCycleLarge is BenchmarkOneMessageCycle on a database
// of largePages pages (512-byte pages keep it at ~130 MB, built in seconds):
// what a cycle costs beyond the changed pages is per page of the database.
func BenchmarkOneMessageCycleLarge(b *testing.B) {
	r, _ := storetest.NewStore(b)
	src := b.TempDir()
	dbPath := filepath.Join(src, "msgstore.db")
	buildLargeDB(b, dbPath)
	measureOneMessageCycles(b, r, src, dbPath, "msgstore.db")
}

// measureOneMessageCycles backs src up twice (a database written just now
// is read whole once more), then measures b.N cycles of one new message
// scoped to rel, as the watcher reports it: each must read under 64 KiB,
// and the CPU of every thread (GC and sealing workers too: the daemon's
// figure) is reported per cycle.
func measureOneMessageCycles(b *testing.B, r backup.Store, src, dbPath, rel string) {
	b.ReportAllocs()
	measureCycles(b, r, src, storetest.OpenChatDB(b, dbPath), rel, nil, 64<<10)
}

// measureCycles is measureOneMessageCycles with afterCommit run (untimed)
// after each message, and maxRead the bytes a cycle may read (0: any).
func measureCycles(b *testing.B, r backup.Store, src string, db *storetest.ChatDB, rel string, afterCommit func(), maxRead int64) {
	// As the daemon finds an app's database every day: opened a while ago.
	// A file changed within source's racy window of a read is read whole
	// again next time (its ctime counts, so it cannot be set back), and
	// on a quiet machine every backup below ran within that window of the
	// database's build and of the writer creating its -wal: the timed
	// cycles were whole reads.
	waitPastRacyWindow(b, filepath.Join(src, rel))
	opts := backup.Options{Source: src, Cache: backup.LoadCache(r)}
	for range 2 {
		if _, err := backup.Run(b.Context(), r, opts); err != nil {
			b.Fatal(err)
		}
	}
	opts.Scope = []string{rel}
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db.Insert(10_000_000+i, 10_000_001+i, 1)
		if afterCommit != nil {
			afterCommit()
		}
		b.StartTimer()
		before := processCPU(b)
		res, err := backup.Run(b.Context(), r, opts)
		if err != nil {
			b.Fatal(err)
		}
		cpu += processCPU(b) - before
		if maxRead > 0 && res.ReadBytes > maxRead {
			b.Fatalf("a one-message cycle read %d bytes: not incremental", res.ReadBytes)
		}
		b.ReportMetric(float64(res.ReadBytes), "read-bytes/op")
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

func processCPU(b *testing.B) time.Duration {
	d, err := cputime.Process()
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// buildLargeDB fills a database of at least largePages pages in one
// transaction without a journal (as the bench's large corpus does), then
// leaves it in WAL mode.
func buildLargeDB(b *testing.B, path string) {
	b.Helper()
	start := time.Now()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=page_size(512)&_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		`CREATE TABLE messages(id INTEGER PRIMARY KEY, chat INTEGER NOT NULL, sender TEXT NOT NULL, body TEXT NOT NULL, ts INTEGER NOT NULL)`,
		`CREATE INDEX messages_chat_ts ON messages(chat, ts)`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 520000)
		 INSERT INTO messages SELECT i, i % 97, 'sender' || (i % 13), printf('%.*c', 120 + i % 80, 'x') || i, 1700000000 + i FROM n`,
		`PRAGMA journal_mode=WAL`,
	} {
		if _, err := db.Exec(q); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	var pages int64
	if err := db.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
		b.Fatal(err)
	}
	if pages < largePages {
		b.Fatalf("the database has %d pages, want at least %d", pages, largePages)
	}
	b.Logf("built a database of %d pages in %v", pages, time.Since(start).Round(time.Millisecond))
}

// sourceRacyWindow is source's racyWindow (source/scan.go).
const sourceRacyWindow = 2 * time.Second

// waitPastRacyWindow waits until the database at path and its -wal were
// last changed longer ago than source's racy window.
func waitPastRacyWindow(b *testing.B, path string) {
	var last time.Time
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			b.Fatal(err)
		}
		if err == nil && fi.ModTime().After(last) {
			last = fi.ModTime()
		}
	}
	time.Sleep(time.Until(last.Add(sourceRacyWindow + 100*time.Millisecond)))
}
