package backup_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/internal/storetest"
)

// BenchmarkOneMessageCycleLargeTree is BenchmarkOneMessageCycleLarge
// beside 50,000 small files in 500 directories (the bench's large cycle
// corpus): a one-message cycle must not cost per file either.
func BenchmarkOneMessageCycleLargeTree(b *testing.B) {
	r, _ := storetest.NewStore(b)
	src := b.TempDir()
	dbPath := filepath.Join(src, "databases", "msgstore.db")
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
		b.Fatal(err)
	}
	buildLargeDB(b, dbPath)
	for i := range 50_000 {
		dir := filepath.Join(src, "media", "thumbs", fmt.Sprintf("%03d", i%500))
		if i < 500 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("T%06d.webp", i)), []byte(fmt.Sprintf("RIFF%dWEBPVP8 %0*d", i, 1024+i%3072, i)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	db := storetest.OpenChatDB(b, dbPath)
	cache := backup.LoadCache(r)
	opts := backup.Options{Source: src, Cache: cache}
	for range 2 {
		if _, err := backup.Run(b.Context(), r, opts); err != nil {
			b.Fatal(err)
		}
	}
	// What the watcher reports for a commit (-wal and -shm map to it).
	opts.Scope = []string{"databases/msgstore.db"}
	b.ReportAllocs()
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db.Insert(10_000_000+i, 10_000_001+i, 1)
		b.StartTimer()
		before := processCPU(b)
		res, err := backup.Run(b.Context(), r, opts)
		if err != nil {
			b.Fatal(err)
		}
		cpu += processCPU(b) - before
		if res.ReadBytes > 64<<10 {
			b.Fatalf("a one-message cycle read %d bytes: not incremental", res.ReadBytes)
		}
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}
