package restore_test

import (
	"github.com/chatsafe/chatsafe/internal/storetest"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/restore"
)

func BenchmarkRestore(b *testing.B) {
	src, size := storetest.BenchCorpus(b)
	r, _ := storetest.NewStore(b)
	if _, err := backup.Run(b.Context(), r, backup.Options{Source: src}); err != nil {
		b.Fatal(err)
	}
	if _, err := r.Sync(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := restore.Run(b.Context(), r, restore.Options{Target: filepath.Join(b.TempDir(), "out")}); err != nil {
			b.Fatal(err)
		}
	}
}
