package backup_test

import (
	"path/filepath"
	"testing"

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
	measureCycles(b, r, src, db, "msgstore.db", func() {
		if _, err := db.DB.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			b.Fatal(err)
		}
	}, 0)
}
