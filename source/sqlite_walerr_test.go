package source

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// failingAt is a -wal file whose reads from offset at on fail as a disk
// would (EIO), not as its end.
type failingAt struct {
	r  io.ReaderAt
	c  io.Closer
	at int64
}

func (f failingAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.at {
		return 0, syscall.EIO
	}
	return f.r.ReadAt(p, off)
}

func (f failingAt) Close() error { return f.c.Close() }

// TestWALReadErrorIsNotItsEnd: a frame header that fails to read (an I/O
// error) is not the end of the log. Taken as the end, the frames past it,
// committed and in the snapshot, would be carried over from the previous
// version: a wrong read. The read must be whole instead.
func TestWALReadErrorIsNotItsEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "msgstore.db")
	db := appDB(t, path)
	createMessages(t, db, 100)
	wal := testWAL(t, path+"-wal")
	mark := frameCount(wal)
	_, cksum, _ := wal.frame(mark)
	for id := 101; id <= 120; id++ {
		insertMessage(t, db, id)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	before := idOf(fi)
	prev := &cacheEntry{Kind: KindSQLite, ID: before, PageSize: 4096,
		Mark: &walMark{Frame: mark, Cksum: cksum, PageCount: 1 << 20}}
	for name, failFrom := range map[string]uint32{"a frame after the mark": mark + 5, "the frame after the mark": mark + 1} {
		t.Run(name, func(t *testing.T) {
			wal := testWAL(t, path+"-wal")
			prev.Mark.Hdr = wal.hdr
			f := wal.f
			wal.f = failingAt{r: f, c: f, at: int64(walHdrSize) + int64(failFrom-1)*int64(walFrameHdrSize+4096)}
			p := incrementalPlan(prev, wal, [2]shmHeader{}, before, 4096, 1<<20)
			if p.incremental {
				t.Fatalf("a -wal whose frame %d failed to read (frames to %d) was read incrementally, %d pages changed", failFrom, frameCount(testWAL(t, path+"-wal")), len(p.changed))
			}
			if !strings.Contains(p.why, "input/output error") {
				t.Errorf("whole read because %q, want the read error named", p.why)
			}
		})
	}
}

// testWAL opens the -wal at path (pages of 4 KiB), closed when the test ends.
func testWAL(t *testing.T, path string) *walFile {
	t.Helper()
	wal := openWAL(path, 4096)
	if wal == nil {
		t.Fatal("no -wal")
	}
	t.Cleanup(wal.close)
	return wal
}

// frameCount is the number of frames of wal's generation.
func frameCount(wal *walFile) uint32 {
	var n uint32
	for {
		if _, _, ok := wal.frame(n + 1); !ok {
			return n
		}
		n++
	}
}

// TestSQLiteWALOtherVersion: SQLite's recovery takes a -wal only when its
// header's file format version is 3007000 (wal.c, walIndexRecover; the
// wal2 branch writes another): with any other it refuses the log. Such a
// -wal is not a log this reader knows, so the read is whole and says why.
// The version is written by hand into the real -wal, with the header's
// checksum made again, as a writer of that version would.
func TestSQLiteWALOtherVersion(t *testing.T) {
	a := newChatApp(t)
	a.scan("first backup")
	a.msgs(20)
	a.scan("messages")
	if !a.k.incr["msgstore.db"] {
		t.Fatal("the read after 20 messages was not incremental")
	}
	a.msgs(3)
	setWALVersion(t, a.dbPath+"-wal", 3021000)
	a.wholeBecause("a -wal of version 3021000", "version 3021000")
}

// TestSQLiteWALHeaderChecksum: a -wal whose header's checksum does not
// match its first 24 bytes is one SQLite's recovery refuses (wal.c,
// walIndexRecover), and its frames' checksums chain from that header, so
// they say nothing about which pages changed. The app's connection still
// reads the frames through its wal-index; the read is whole, with the
// reason, and restores every message.
func TestSQLiteWALHeaderChecksum(t *testing.T) {
	a := newChatApp(t)
	a.scan("first backup")
	a.msgs(20)
	a.scan("messages")
	if !a.k.incr["msgstore.db"] {
		t.Fatal("the read after 20 messages was not incremental")
	}
	a.msgs(3)
	flipWALHeaderChecksum(t, a.dbPath+"-wal")
	a.wholeBecause("a -wal whose header checksum is wrong", "checksum")
}

// TestSQLiteWALRecoveredWithoutItsFrames: the app loses its wal-index (a
// crash) while the -wal's header is damaged. SQLite's recovery then drops
// every frame of the log but keeps the header's salts and checkpoint count,
// so the app's next commits write frames from slot 1 under a header equal
// to the one the last read saw (wal.c: walIndexRecover, walRestartLog,
// sqlite3WalFrames). The frames the last read took its pages from are no
// longer the database's: the read must be whole, fewer frames written since
// than the last read saw or more. Reproduced in review: both read
// incrementally and restored a malformed database.
func TestSQLiteWALRecoveredWithoutItsFrames(t *testing.T) {
	for _, after := range []int{2, 60} {
		t.Run(fmt.Sprintf("%d messages after", after), func(t *testing.T) {
			a := newChatApp(t)
			// The messages' table in the database file, not only in frames
			// the recovery drops.
			mustExec(t, a.db, "PRAGMA wal_checkpoint(TRUNCATE)")
			a.recoverWithoutLog()
			a.msgs(after)
			a.wholeBecause("after the recovery", "the last read saw")
		})
	}
}

// TestSQLiteWALRecoveredFirstGeneration: the same recovery in a -wal that
// was never restarted (checkpoint count 0) draws new salts, so the header
// differs from the one the last read saw, and the database file is as it
// was: the rule for a settled database file read only the new frames and
// carried the dropped ones' pages (a malformed restore). The read is whole.
func TestSQLiteWALRecoveredFirstGeneration(t *testing.T) {
	a := newFirstGenerationApp(t)
	a.recoverWithoutLog()
	a.msgs(2)
	a.wholeBecause("after the recovery", "may have been dropped")
}

// TestSQLiteWALRecoveredThenClosed: the app recovers without the frames
// the last read saw, writes nothing and closes: its close copies no frame
// and deletes the -wal, so the database file is unchanged and there is no
// log at all. The read is whole (found in review: it carried the dropped
// frames' pages, a malformed restore).
func TestSQLiteWALRecoveredThenClosed(t *testing.T) {
	a := newFirstGenerationApp(t)
	a.recoverWithoutLog()
	if err := a.db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a.dbPath + "-wal"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the app's close left its -wal (%v)", err)
	}
	a.wholeBecause("after the recovery and a close", "may have been dropped")
}

// newFirstGenerationApp is a chat app whose messages' table is in the
// database file and whose -wal is new (checkpoint count 0).
func newFirstGenerationApp(t *testing.T) *chatApp {
	root := t.TempDir()
	a := &chatApp{t: t, root: root, dbPath: filepath.Join(root, "msgstore.db"), next: 3001,
		cachePath: filepath.Join(t.TempDir(), "cache"), k: newPageKeeper(t)}
	pre := openDB(t, a.dbPath, "DELETE")
	createMessages(t, pre, 3000)
	if err := pre.Close(); err != nil {
		t.Fatal(err)
	}
	a.db = appDB(t, a.dbPath)
	return a
}

// recoverWithoutLog backs up a message and then 20 more (incrementally),
// damages the -wal's header checksum and loses the wal-index, so the
// app's next transaction recovers without every frame of the log: the
// messages committed since the database file last took the log.
func (a *chatApp) recoverWithoutLog() {
	a.t.Helper()
	inFile := a.next - 1
	a.msgs(1)
	a.scan("first backup")
	a.msgs(20)
	a.scan("messages")
	if !a.k.incr["msgstore.db"] {
		a.t.Fatal("the read after 20 messages was not incremental")
	}
	a.dropLog(inFile)
}

// dropLog damages the -wal's header checksum and loses the wal-index, so
// the app's next transaction recovers without every frame of the log;
// inFile is the last message the database file holds, the last one left.
func (a *chatApp) dropLog(inFile int) {
	a.t.Helper()
	flipWALHeaderChecksum(a.t, a.dbPath+"-wal")
	loseWALIndex(a.t, a.dbPath+"-shm")
	var last int
	if err := a.db.QueryRow("SELECT max(id) FROM msg").Scan(&last); err != nil {
		a.t.Fatal(err)
	}
	if last != inFile {
		a.t.Fatalf("after the recovery the last message is %d, want %d (the frames in the -wal dropped)", last, inFile)
	}
	a.next = last + 1
}

// loseWALIndex zeroes both copies of the wal-index header in the -shm at
// path, as a crash that left it half written would: SQLite's next
// transaction rebuilds the index from the -wal (walIndexRecover).
func loseWALIndex(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, 2*shmHdrSize), 0); err != nil {
		t.Fatal(err)
	}
}

// flipWALHeaderChecksum changes one bit of the header checksum of the
// -wal at path.
func flipWALHeaderChecksum(t *testing.T, path string) { xorByte(t, path, 31, 1) }

// xorByte changes the byte at off of the file at path by x.
func xorByte(t *testing.T, path string, off int64, x byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= x
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
}

// setWALVersion writes version into the header of the -wal at path and
// makes the header's checksum again (wal.c, walChecksumBytes over its
// first 24 bytes).
func setWALVersion(t *testing.T, path string, version uint32) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var h [walHdrSize]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint32(h[4:], version)
	s1, s2 := walHeaderChecksum(&h)
	binary.BigEndian.PutUint32(h[24:], s1)
	binary.BigEndian.PutUint32(h[28:], s2)
	if _, err := f.WriteAt(h[:], 0); err != nil {
		t.Fatal(err)
	}
}

// TestSQLiteWALIndexTornBeforeTheRead: the wal-index header read before
// the transaction is unusable (its two copies differ, as while a writer
// updates it or after a crash; the read's own transaction rebuilds it), so
// it names no frame: the mark must not say the snapshot held none. Found
// in review: it did (frame 0), and after the app then recovered without
// the log's frames (a new generation over an unchanged database file) the
// next read took rule 2 and carried the dropped frames' pages. That read is
// whole now.
func TestSQLiteWALIndexTornBeforeTheRead(t *testing.T) {
	a := newFirstGenerationApp(t)
	a.msgs(1)
	a.scan("first backup")
	a.msgs(20)
	tearWALIndexHeader(t, a.dbPath+"-shm")
	a.scan("messages, the wal-index torn")
	// The read's own transaction rebuilt the index. A mark that names no
	// frame would say the snapshot read none of the 21; the read keeps
	// none, or (when it was read again, in a transaction begun after the
	// rebuild) the frame the rebuilt index names.
	cache, err := LoadFileCache(a.cachePath)
	if err != nil {
		t.Fatal(err)
	}
	if m := cache.entries["msgstore.db"].Mark; m != nil && m.Frame == 0 {
		t.Fatalf("the read left a mark of frame 0 (%+v): its snapshot read the -wal's frames", m)
	}
	a.dropLog(a.next - 22)
	a.msgs(2)
	a.wholeBecause("after the recovery", "")
}

// tearWALIndexHeader changes the second copy of the wal-index header in
// the -shm at path, so that its two copies differ: readers take neither,
// and SQLite's next transaction rebuilds it (walIndexReadHdr).
func tearWALIndexHeader(t *testing.T, path string) { xorByte(t, path, shmHdrSize+16, 1) }

// TestNewMarkFrameZero: a mark says frame 0 (the snapshot read no frame of
// the log) only when the wal-index header read inside the transaction
// counts none; a header before it that names no frame, with frames
// inside, leaves the mark unknown (TestSQLiteWALIndexTornBeforeTheRead
// with a live writer).
func TestNewMarkFrameZero(t *testing.T) {
	a := newFirstGenerationApp(t)
	a.msgs(3)
	wal := testWAL(t, a.dbPath+"-wal")
	salt := [8]byte(wal.hdr[16:24])
	n := frameCount(wal)
	inside := shmHeader{valid: true, mxFrame: n, salt: salt}
	for name, before := range map[string]shmHeader{
		"torn":        {},
		"empty":       {valid: true, salt: salt},
		"other salts": {valid: true, mxFrame: n, salt: [8]byte{1}},
	} {
		if m := newMark(wal, before, inside, 600, true); !m.unknown {
			t.Errorf("%s before, %d frames inside: mark %+v, want unknown", name, n, m)
		}
	}
	restarted := shmHeader{valid: true, salt: [8]byte{2}} // no frame yet under new salts
	if m := newMark(wal, shmHeader{}, restarted, 600, true); m.unknown || m.Frame != 0 {
		t.Errorf("torn before, none inside: mark %+v, want frame 0", m)
	}
}
