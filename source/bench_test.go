package source

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/internal/cputime"
)

// drain is a Visitor that reads every byte and stores nothing.
type drain struct{ n int64 }

func (d *drain) File(_ FileInfo, c Content) ([]byte, error) {
	for {
		ch, err := c.Next()
		if errors.Is(err, io.EOF) {
			return []byte("t"), nil
		}
		if err != nil {
			return nil, err
		}
		d.n += int64(len(ch.Data))
	}
}
func (d *drain) Unchanged(FileInfo, []byte) error { return nil }
func (d *drain) Dir(FileInfo) error               { return nil }
func (d *drain) Symlink(FileInfo) error           { return nil }
func (d *drain) Warn(string, error)               {}

// peakRSSMiB returns the process's peak resident set (VmHWM) in MiB.
func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// resetPeakRSS returns set-up garbage to the OS and restarts VmHWM
// accounting (Linux: write 5 to clear_refs).
func resetPeakRSS() {
	debug.FreeOSMemory()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// BenchmarkSQLitePageScan reads a WAL database page by page. The size is
// 20 MB, or CHATSAFE_BENCH_DB_MB megabytes; peak-RSS-MiB is the process's
// peak resident memory during the scans.
func BenchmarkSQLitePageScan(b *testing.B) {
	mb := 20
	if v, err := strconv.Atoi(os.Getenv("CHATSAFE_BENCH_DB_MB")); err == nil && v > 0 {
		mb = v
	}
	root := b.TempDir()
	db := openDB(b, filepath.Join(root, "msgstore.db"), "WAL")
	mustExec(b, db, `CREATE TABLE msg(id INTEGER PRIMARY KEY, body BLOB NOT NULL)`)
	const rowBytes = 1000
	rows := mb << 20 / rowBytes
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	mustExec(b, tx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < ?)
		INSERT INTO msg SELECT i, randomblob(?) FROM n`, rows, rowBytes)
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	mustExec(b, db, "PRAGMA wal_checkpoint(TRUNCATE)")
	s := NewScanner(root, Options{})
	d := &drain{}
	if err := s.Scan(context.Background(), d); err != nil {
		b.Fatal(err)
	}
	benchScans(b, s, d.n)
}

// BenchmarkCDC chunks a 64 MiB random file, as a plain file (other) and
// as a video (media: isIncompressible by its name).
func BenchmarkCDC(b *testing.B) {
	for _, name := range []string{"other.bin", "media.mp4"} {
		class, _, _ := strings.Cut(name, ".")
		b.Run(class, func(b *testing.B) {
			root := b.TempDir()
			writeFile(b, filepath.Join(root, name), randomBytes(b, 64<<20))
			s := NewScanner(root, Options{})
			benchScans(b, s, 64<<20)
		})
	}
}

// BenchmarkSQLiteWholeReadAfterCheckpoint is the daemon's read after the
// app's checkpoint: a whole read in pieces (the cache lost) of a WAL
// database whose log holds one message, into a visitor that only counts.
// cpu-ms/op is the process's CPU per read (user+system).
func BenchmarkSQLiteWholeReadAfterCheckpoint(b *testing.B) {
	root := b.TempDir()
	path := filepath.Join(root, "msgstore.db")
	db := appDB(b, path)
	mustExec(b, db, `CREATE TABLE msg(id INTEGER PRIMARY KEY, body BLOB NOT NULL);
		CREATE TABLE meta(k TEXT PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO meta VALUES('last', 0)`)
	const rows = 50000
	mustExec(b, db, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < ?)
		INSERT INTO msg SELECT i, randomblob(900) FROM n`, rows)
	mustExec(b, db, "PRAGMA wal_checkpoint(TRUNCATE)")
	insertMessage(b, db, rows+1)
	var n int64
	cpu0 := processCPU(b)
	b.ResetTimer()
	for b.Loop() {
		s := NewScanner(root, Options{Cache: emptyCache(b), CarryPages: true})
		d := &drain{}
		if err := s.Scan(context.Background(), d); err != nil {
			b.Fatal(err)
		}
		n = d.n
	}
	b.StopTimer()
	b.SetBytes(n)
	b.ReportMetric(float64((processCPU(b)-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// processCPU is the process's user and system CPU so far: on a shared
// machine a benchmark's wall time measures the neighbours too.
func processCPU(tb testing.TB) time.Duration {
	d, err := cputime.Process()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// benchScans times s's scans of n bytes each, with the allocations and the
// process's peak resident memory during them.
func benchScans(b *testing.B, s *Scanner, n int64) {
	b.SetBytes(n)
	b.ReportAllocs()
	resetPeakRSS()
	b.ResetTimer()
	for b.Loop() {
		if err := s.Scan(context.Background(), &drain{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
}
