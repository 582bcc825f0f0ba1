package backup_test

import (
	"github.com/chatsafe/chatsafe/internal/storetest"
	"testing"

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
