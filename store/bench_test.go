package store_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// benchCorpus is a ~20 MB message database and ~30 MB of media.
func benchCorpus(b *testing.B) (src string, size int64) {
	b.Helper()
	src = b.TempDir()
	db := openChatDBB(b, filepath.Join(src, "msgstore.db"))
	db.insert(0, 120000, 4000)
	db.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	for i := 0; i < 15; i++ {
		p := filepath.Join(src, "Media", fmt.Sprintf("IMG-%03d.jpg", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, append([]byte{0xff, 0xd8, 0xff}, randBytes(uint64(i), 2<<20)...), 0o644)
	}
	filepath.Walk(src, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			size += fi.Size()
		}
		return nil
	})
	return src, size
}

func benchRepo(b *testing.B) (*store.Store, string) {
	b.Helper()
	key, _ := crypt.NewKey()
	remoteDir := b.TempDir()
	rem := openRemoteB(b, remoteDir)
	r, err := store.Init(b.Context(), rem, key, store.Options{StateDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return r, remoteDir
}

// BenchmarkFirstBackup is a whole first backup: scan, hash, compress,
// seal, spool, upload to a local remote.
func BenchmarkFirstBackup(b *testing.B) {
	src, size := benchCorpus(b)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		r, _ := benchRepo(b)
		b.StartTimer()
		if _, err := backup.Run(b.Context(), r, backup.Options{Source: src}); err != nil {
			b.Fatal(err)
		}
		if _, err := r.Sync(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRestore restores the corpus, verifying every byte.
func BenchmarkRestore(b *testing.B) {
	src, size := benchCorpus(b)
	r, _ := benchRepo(b)
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
