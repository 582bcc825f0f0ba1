package backup_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

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
	// What the watcher reports for a commit (-wal and -shm map to it).
	measureOneMessageCycles(b, r, src, dbPath, "databases/msgstore.db")
}
