package backup_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/internal/storetest"
)

// BenchmarkCycleAfterCheckpoint is the daemon's cycle after the app's
// TRUNCATE checkpoint: one new message, then the checkpoint empties the
// log, so the cycle reads the whole database (docs/sqlite.md). It reports
// the CPU of every thread per cycle, as the bench's checkpoint row does.
func BenchmarkCycleAfterCheckpoint(b *testing.B) {
	r, _ := storetest.NewStore(b)
	src := b.TempDir()
	db := storetest.OpenChatDB(b, filepath.Join(src, "msgstore.db"))
	db.Insert(0, 200000, 5000)
	opts := backup.Options{Source: src, Cache: backup.LoadCache(r)}
	for range 2 {
		if _, err := backup.Run(b.Context(), r, opts); err != nil {
			b.Fatal(err)
		}
	}
	opts.Scope = []string{"msgstore.db"}
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db.Insert(10_000_000+i, 10_000_001+i, 1)
		if _, err := db.DB.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		before := processCPU(b)
		res, err := backup.Run(b.Context(), r, opts)
		if err != nil {
			b.Fatal(err)
		}
		cpu += processCPU(b) - before
		b.ReportMetric(float64(res.ReadBytes), "read-bytes/op")
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}
