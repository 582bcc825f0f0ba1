package backup_test

import (
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/faults"
	"github.com/chatsafe/chatsafe/internal/storetest"
)

// A whole read of a live database runs in short read transactions; the
// app commits, checkpoints and shrinks the database between them. What the
// backup stores restores to exactly what a full scan reads afterwards.
func TestWholeReadInPiecesRestores(t *testing.T) {
	e := storetest.NewEnv(t)
	t.Cleanup(func() { faults.Hook = nil })
	dbPath := filepath.Join(e.Src, "msgstore.db")
	db := storetest.OpenChatDB(t, dbPath)
	exec := func(q string) {
		if _, err := db.DB.Exec(q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	exec("PRAGMA wal_autocheckpoint=0")
	// Many pieces of 1 MiB; pieces also end after 2 ms.
	db.Insert(0, 50000, 5000)
	next := 50000
	// A TRUNCATE checkpoint of frames the last backup never saw makes
	// the next read a whole one.
	unseenCheckpoint := func() { db.Insert(next, next+1, 1); next++; exec("PRAGMA wal_checkpoint(TRUNCATE)") }
	cycles := []struct {
		name   string
		before func()
		gaps   map[int]func() // by gap, from 1
	}{
		{"commits and a TRUNCATE checkpoint between pieces", func() {}, map[int]func(){
			1: func() { db.Insert(next, next+10, 1); next += 10; exec("PRAGMA wal_checkpoint(TRUNCATE)") },
		}},
		{"edits, growth and VACUUM between pieces", unseenCheckpoint, map[int]func(){
			1: func() {
				exec("UPDATE messages SET body = 'edited ' || body WHERE id < 50")
				db.Insert(next, next+3000, 1000)
				next += 3000
			},
			// Below the 32 pages the first piece delivered at least.
			2: func() { exec("DELETE FROM messages WHERE id >= 500"); exec("VACUUM"); next = 500 },
		}},
	}
	for _, c := range cycles {
		c.before()
		gap := 0
		faults.Hook = func(point string) error {
			if point == "source:between-pieces" {
				gap++
				if f := c.gaps[gap]; f != nil {
					f()
				}
			}
			return nil
		}
		e.Backup()
		faults.Hook = nil
		if gap < len(c.gaps) {
			t.Fatalf("%s: %d gaps between pieces, the test needs %d", c.name, gap, len(c.gaps))
		}
		want := livePages(t, dbPath)
		checkRestoredDB(t, e, c.name, want)
		t.Logf("%s: %d gaps, %d bytes", c.name, gap, len(want))
	}
}
