package backup_test

import (
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
