package source

import (
	"database/sql"
	"testing"
)

// TestSQLitePiecesRolledBackFrames: a transaction of the app spills pages
// into the -wal (frames under the log's salts, never committed) while a
// read in pieces reads it; the app rolls it back and commits a message,
// whose frames go over the first of those slots, the rest still there.
// A read that carried its set of framed pages from the last frame it had
// read (a rolled-back one, unchanged) missed the message's pages and read
// them from the database file, where the snapshot's version is a frame.
func TestSQLitePiecesRolledBackFrames(t *testing.T) {
	f := newPiecesFixture(t, 3000)
	f.checkpoint("PASSIVE") // pages in the database file: read directly
	var tx *sql.Tx
	f.k.between = func(n int) {
		switch n {
		case 1:
			var err error
			if tx, err = f.db.Begin(); err != nil {
				t.Fatal(err)
			}
			mustExec(t, tx, "PRAGMA cache_size=10") // spills
			mustExec(t, tx, "UPDATE msg SET body = randomblob(300) WHERE id <= 400")
		case 2:
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			mustExec(t, f.db, "PRAGMA cache_size=-2000")
			f.msg()
		}
	}
	f.scan()
	if f.k.direct["msgstore.db"] == 0 {
		t.Error("no page was read from the database file")
	}
}
