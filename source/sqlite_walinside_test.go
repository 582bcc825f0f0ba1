package source

import (
	"os"
	"testing"
)

// TestSQLiteWALRecoveredByTheRead: the app's machine lost power with
// frames of the -wal written back out of order; the -shm still holds the
// wal-index header of the app's session (frames 1..N, its checksum that of
// slot N). The read is the first to open the database: SQLite rebuilds
// the wal-index inside the read's own transaction, and its recovery stops
// at the damaged frame, so the snapshot holds frames 1..R, R < N. The
// wal-index header read before the transaction began still says N: taken
// for the snapshot's, it made the read incremental over the frames the
// last read saw (rule 1), it made the mark name frame N so that a
// PASSIVE checkpoint and a restart later took the app's frames R+1.. for
// seen (rule 3), and between two transactions of a read in pieces it hid
// the app's frames R+1.. from the stitch. Every read is compared with the
// full scan of its snapshot and restored.
func TestSQLiteWALRecoveredByTheRead(t *testing.T) {
	t.Run("read whole, then a PASSIVE checkpoint and a restart", func(t *testing.T) {
		a, r, n := newCrashedApp(t, false)
		// One transaction: the read's mark is the one its plan made.
		a.tune = func(s *Scanner) { s.pieceBytes, s.pieceTime = 1<<30, 0 }
		a.scan("the first read after the crash")
		if got := walIndexFrames(t, a.dbPath); got != r {
			t.Fatalf("after the read the wal-index counts %d frames, want %d (the read's recovery)", got, r)
		}
		a.restored("the first read after the crash")
		cache, err := LoadFileCache(a.cachePath)
		if err != nil {
			t.Fatal(err)
		}
		if m := cache.entries["msgstore.db"].Mark; m != nil && m.Frame > r {
			t.Errorf("the read's mark names frame %d, its snapshot holds %d (the -shm counted %d)", m.Frame, r, n)
		}
		a.tune = nil
		a.reopenAfterCrash()
		a.msgs(2) // frames R+1.. the read never saw, short of slot N
		if got := walIndexFrames(t, a.dbPath); got >= n {
			t.Fatalf("the app's frames after the recovery reach slot %d, want short of %d", got, n)
		}
		mustExec(t, a.db, "PRAGMA wal_checkpoint(PASSIVE)")
		a.msgs(1) // restarts the log over its first slots only
		a.wholeBecause("after a PASSIVE checkpoint and a restart", "left no mark")
	})
	t.Run("read incrementally", func(t *testing.T) {
		a, _, _ := newCrashedApp(t, true)
		a.wholeBecause("the first read after the crash", "the last read saw")
	})
	t.Run("app writes between two pieces", func(t *testing.T) {
		a, _, _ := newCrashedApp(t, false)
		a.tune = func(s *Scanner) { s.pieceBytes, s.pieceTime = 16*4096, 0 }
		a.k.between = func(tx int) {
			if tx == 1 {
				a.reopenAfterCrash()
				a.msgs(2)
			}
		}
		a.scan("the first read after the crash, the app writing between its pieces")
		a.restored("the first read after the crash")
	})
}

// newCrashedApp is a chat app whose second -wal generation (shorter than
// the first, whose frames follow it in the file) holds 10 messages, as a
// power loss left it: the database file, -wal and -shm as they were while
// the app ran (a first backup read them when backedUp), the app closed,
// and a frame of the 4th message damaged. It returns the app, whose next
// message is the 4th, R, the frames before the damaged one, and N, the
// frames the -shm counts. The app's connection is closed: the next read
// is the first to open the database.
func newCrashedApp(t *testing.T, backedUp bool) (a *chatApp, r, n uint32) {
	a = newChatApp(t)
	mustExec(t, a.db, "PRAGMA wal_checkpoint(PASSIVE)")
	var ends []uint32 // the frames the wal-index counts after each message
	for range 10 {
		a.msgs(1) // the first restarts the log
		ends = append(ends, walIndexFrames(t, a.dbPath))
	}
	r, n = ends[2], ends[len(ends)-1]
	if salts := walSlotSalts(t, a.dbPath+"-wal", n+1); salts == walSlotSalts(t, a.dbPath+"-wal", n) || salts == [8]byte{} {
		t.Fatalf("slot %d after the log's %d frames holds no older generation's frame", n+1, n)
	}
	if backedUp {
		a.scan("before the crash")
	}
	names := []string{a.dbPath, a.dbPath + "-wal", a.dbPath + "-shm"}
	saved := make([][]byte, len(names))
	for i, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		saved[i] = b
	}
	if err := a.db.Close(); err != nil {
		t.Fatal(err)
	}
	// The database file in place (the same inode), the others anew.
	for i, name := range names {
		if err := os.WriteFile(name, saved[i], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	damageWALFrame(t, a.dbPath+"-wal", r+1)
	a.next -= 7 // the 4th message's commit and every later one are lost
	a.db = nil
	return a, r, n
}

// reopenAfterCrash opens the app again and checks the recovery kept the
// messages before the damaged frame.
func (a *chatApp) reopenAfterCrash() {
	a.t.Helper()
	a.db = appDB(a.t, a.dbPath)
	var last int
	if err := a.db.QueryRow("SELECT max(id) FROM msg").Scan(&last); err != nil {
		a.t.Fatal(err)
	}
	if last != a.next-1 {
		a.t.Fatalf("after the recovery the last message is %d, want %d", last, a.next-1)
	}
}

// walIndexFrames is the frame count of the wal-index header in the -shm
// of the database at path.
func walIndexFrames(t *testing.T, path string) uint32 {
	t.Helper()
	f, err := os.Open(path + "-shm")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := shmHeaderOf(f)
	if !h.valid {
		t.Fatal("no valid wal-index header")
	}
	return h.mxFrame
}

// walSlotSalts is the salts of the frame header in slot i of the -wal at
// path (a page size of 4096).
func walSlotSalts(t *testing.T, path string, i uint32) (salts [8]byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	off := int64(walHdrSize) + int64(i-1)*int64(walFrameHdrSize+4096)
	if _, err := f.ReadAt(salts[:], off+8); err != nil {
		t.Fatal(err)
	}
	return salts
}

// damageWALFrame changes a byte of the page in slot i of the -wal at path
// (a page size of 4096): its checksum no longer holds, and SQLite's
// recovery ends before it.
func damageWALFrame(t *testing.T, path string, i uint32) {
	t.Helper()
	xorByte(t, path, int64(walHdrSize)+int64(i-1)*int64(walFrameHdrSize+4096)+walFrameHdrSize+100, 0xff)
}
