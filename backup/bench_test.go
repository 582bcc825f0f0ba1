package backup_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"

	"github.com/chatsafe/chatsafe/backup"
)

func BenchmarkFirstBackup(b *testing.B) {
	src, size := storetest.BenchCorpus(b)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		r, _ := storetest.NewStore(b)
		b.StartTimer()
		if _, err := backup.Run(b.Context(), r, backup.Options{Source: src}); err != nil {
			b.Fatal(err)
		}
		if _, err := r.Sync(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOneMessageCycle is the daemon's everyday cycle: one new message
// in a live WAL database, the file cache kept in memory, the scope the
// watcher would report.
func BenchmarkOneMessageCycle(b *testing.B) {
	r, _ := storetest.NewStore(b)
	src := b.TempDir()
	dbPath := filepath.Join(src, "msgstore.db")
	db := storetest.OpenChatDB(b, dbPath)
	db.Insert(0, 200000, 5000)
	cache := backup.LoadCache(r)
	opts := backup.Options{Source: src, Cache: cache}
	if _, err := backup.Run(b.Context(), r, opts); err != nil {
		b.Fatal(err)
	}
	opts.Scope = []string{"msgstore.db"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db.Insert(200000+i, 200001+i, 1)
		b.StartTimer()
		res, err := backup.Run(b.Context(), r, opts)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(res.ReadBytes), "read-bytes/op")
	}
}

// BenchmarkManyFilesCycle is a cycle over 20,000 files in 200 directories
// after one file changed: scoped to the path the watcher reports, and as a
// full scan (every file stat'ed) for comparison.
func BenchmarkManyFilesCycle(b *testing.B) {
	src := b.TempDir()
	for d := 0; d < 200; d++ {
		for f := 0; f < 100; f++ {
			writeBench(b, filepath.Join(src, fmt.Sprintf("media/%03d/%03d.jpg", d, f)), []byte(fmt.Sprintf("photo %d/%d", d, f)))
		}
	}
	for _, bc := range []struct {
		name  string
		scope bool
	}{{"scoped", true}, {"full", false}} {
		b.Run(bc.name, func(b *testing.B) {
			r, _ := storetest.NewStore(b)
			opts := backup.Options{Source: src, Cache: backup.LoadCache(r)}
			// Twice: files written just now are looked at again once.
			for range 2 {
				if _, err := backup.Run(b.Context(), r, opts); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				rel := fmt.Sprintf("media/%03d/new-%s-%d.jpg", i%200, bc.name, i)
				writeBench(b, filepath.Join(src, rel), []byte("new photo"))
				if bc.scope {
					opts.Scope = []string{rel}
				}
				b.StartTimer()
				if _, err := backup.Run(b.Context(), r, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func writeBench(b *testing.B, p string, data []byte) {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		b.Fatal(err)
	}
}
