package source

import (
	"context"
	"database/sql"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// chatApp is a live writer over a database of 3,000 messages (its first
// -wal generation long), and the scans the rule-3 tests make of it: each
// loads the file cache the last one saved, as a new process would, and
// compares its read with the full scan of its snapshot (pageKeeper).
type chatApp struct {
	t         *testing.T
	root      string
	dbPath    string
	db        *sql.DB
	next      int // the next message's id
	cachePath string
	k         *pageKeeper
	// later moves the scans' clock forward (the time since the test began,
	// as the scanner sees it, beyond the hour future adds).
	later time.Duration
	every time.Duration    // Options.FullReadEvery
	tune  func(s *Scanner) // if set, changes each scan's scanner
	// checked: the pages the last scan's rule-3 check read from the
	// database file (sqlite_sums.go); warmed, those it read ahead of the
	// read's transaction (sqlite_warm.go).
	checked, warmed int
}

func newChatApp(t *testing.T) *chatApp {
	root := t.TempDir()
	a := &chatApp{t: t, root: root, dbPath: filepath.Join(root, "msgstore.db"), next: 3001,
		cachePath: filepath.Join(t.TempDir(), "cache"), k: newPageKeeper(t)}
	a.db = appDB(t, a.dbPath)
	createMessages(t, a.db, 3000)
	return a
}

// msgs commits n messages, each as the app does.
func (a *chatApp) msgs(n int) {
	for range n {
		insertMessage(a.t, a.db, a.next)
		a.next++
	}
}

// scan backs the source up once and returns why the database was read
// whole (the debug log's reasons; none for an incremental read or a
// first one).
func (a *chatApp) scan(name string) (whys []string) {
	a.t.Helper()
	cache, err := LoadFileCache(a.cachePath)
	if err != nil {
		a.t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	s := NewScanner(a.root, Options{Cache: cache, CarryPages: true, Log: zap.New(core), FullReadEvery: a.every})
	s.now = func() time.Time { return time.Now().Add(time.Hour + a.later) }
	if a.tune != nil {
		a.tune(s)
	}
	if err := s.Scan(context.Background(), a.k); err != nil {
		a.t.Fatalf("%s: scan: %v", name, err)
	}
	if err := cache.Save(); err != nil {
		a.t.Fatal(err)
	}
	if len(a.k.warns) != 0 {
		a.t.Fatalf("%s: warnings %v", name, a.k.warns)
	}
	if !a.k.whole["msgstore.db"] {
		a.t.Fatalf("%s: the database was not read", name)
	}
	delete(a.k.whole, "msgstore.db")
	for _, e := range logs.FilterMessage("reading the whole database").All() {
		whys = append(whys, e.ContextMap()["why"].(string))
	}
	a.checked, a.warmed = 0, 0
	for _, e := range logs.FilterMessage("reading the changed pages of a database").All() {
		a.checked += int(e.ContextMap()["checked"].(int64))
	}
	for _, e := range logs.FilterMessage("read ahead the pages rule 3 checks").All() {
		a.warmed += int(e.ContextMap()["pages"].(int64))
	}
	return whys
}

// wholeBecause scans, and checks the read was whole for a reason that
// says want, and restores to every message committed.
func (a *chatApp) wholeBecause(name, want string) {
	a.t.Helper()
	whys := a.scan(name)
	if a.k.incr["msgstore.db"] {
		a.t.Fatalf("%s: the read was incremental (%d pages read)", name, a.k.read["msgstore.db"])
	}
	if len(whys) != 1 || !strings.Contains(whys[0], want) {
		a.t.Errorf("%s: whole read because %q, want %q", name, whys, want)
	}
	a.restored(name)
}

// restored checks the last read restores to every message committed.
func (a *chatApp) restored(name string) {
	a.t.Helper()
	if n := restoreDB(a.t, a.k.contents["msgstore.db"]); n != a.next-1 {
		a.t.Errorf("%s: restored %d rows, want %d", name, n, a.next-1)
	}
}

// TestSQLiteIncrementalAfterRestartOverUnseenFrames: SQLite's automatic
// checkpoint copies every frame of the log into the database file at the
// end of the commit that crossed its threshold, frames the last read never
// saw, and the next commit restarts the log. Those frames are still in the
// -wal's slots past the ones the new generation wrote, so a read takes
// their pages as changed and stays incremental. Where their end cannot be
// shown (the previous generation ends at the end of the file, two restarts,
// the new generation wrote over them, a journal_size_limit truncated the
// file), the whole database is read. Every read is compared with the full
// scan of its own snapshot.
func TestSQLiteIncrementalAfterRestartOverUnseenFrames(t *testing.T) {
	a := newChatApp(t)
	k := a.k
	// wantWhy, when set, is what the reason for a whole read must say.
	step := func(name string, wantIncr bool, maxRead int, wantWhy string, ops ...func()) {
		t.Helper()
		for _, op := range ops {
			op()
		}
		whys := a.scan(name)
		if got := k.incr["msgstore.db"]; got != wantIncr {
			t.Errorf("%s: incremental = %v, want %v (%d pages read)", name, got, wantIncr, k.read["msgstore.db"])
		}
		if wantWhy != "" && (len(whys) != 1 || !strings.Contains(whys[0], wantWhy)) {
			t.Errorf("%s: whole read because %q, want %q", name, whys, wantWhy)
		}
		if wantIncr && k.read["msgstore.db"] > maxRead {
			t.Errorf("%s: read %d pages, want at most %d", name, k.read["msgstore.db"], maxRead)
		}
		a.restored(name)
	}
	msgs := func(n int) func() { return func() { a.msgs(n) } }
	exec := func(q string, args ...any) func() { return func() { mustExec(t, a.db, q, args...) } }
	checkpoint := exec("PRAGMA wal_checkpoint(PASSIVE)")
	const (
		ends      = "never saw: the file ends before they do"
		wroteOver = "never saw: the new generation wrote over them"
	)

	step("first backup", false, 0, "")
	// The checkpoint copies the first generation, which the last read saw
	// whole; the first message restarts the log. The first generation's
	// frames reach the end of the file: nothing shows where they ended.
	step("checkpoint, then a restarted log", false, 0, ends, checkpoint, msgs(20))
	// Frames the last read never saw (three messages and an edit of an
	// old page), copied into the database file by a checkpoint; the next
	// message restarts the log over the first few slots only.
	step("unseen frames checkpointed, then a restart", true, 60, "",
		msgs(3), exec("UPDATE msg SET body=randomblob(321) WHERE id=17"), checkpoint, msgs(1))
	// The pages the last read took from the -wal and this one carries
	// were checked in the database file (sqlite_sums.go).
	if a.checked == 0 {
		t.Error("rule 3 read no page of the database file to check the pages it carried")
	}
	// Those pages were read ahead of the transaction (sqlite_warm.go).
	if a.warmed < a.checked {
		t.Errorf("rule 3 checked %d pages in the database file, %d read ahead", a.checked, a.warmed)
	}
	t.Logf("rule 3 checked %d pages in the database file, %d read ahead", a.checked, a.warmed)
	step("messages", true, 100, "", msgs(20))
	step("two restarts", false, 0, "checkpointed or restarted and the database file changed", msgs(2), checkpoint, msgs(1), checkpoint, msgs(1))
	step("messages again", true, 100, "", msgs(20))
	// The new generation is longer than the last read's mark: it wrote
	// over the slots of the frames that read never saw.
	step("the new generation wrote over the unseen frames", false, 0, wroteOver, msgs(2), checkpoint, msgs(40))
	step("more messages", true, 100, "", msgs(20))
	// A journal_size_limit truncates the -wal at the first commit after a
	// restart: the unseen frames are gone with the file's end.
	step("journal_size_limit truncated the log", false, 0, ends,
		exec("PRAGMA journal_size_limit=8192"), msgs(2), checkpoint, msgs(1))
	step("messages after the truncation", true, 100, "", msgs(20))
}

// TestSQLiteRule3SpilledTransaction (from a review): after one restart
// over frames the last read never saw, a large transaction of the new
// generation spills pages into the -wal. Once it rewrote a spilled page in
// place, SQLite writes the following frames with their salts and
// checksums zeroed, to be filled in at commit (wal.c, walEncodeFrame).
// Those frames lie in the slots of the unseen frames; zero salts are not
// an older generation's frame and show nothing about where the unseen
// frames ended. The transaction is rolled back before the read, or open
// while it reads; either way the read must be its snapshot's full scan.
func TestSQLiteRule3SpilledTransaction(t *testing.T) {
	for _, commit := range []bool{false, true} {
		t.Run(map[bool]string{false: "rolled back", true: "open during the read"}[commit], func(t *testing.T) {
			rule3Spill(t, commit)
		})
	}
}

func rule3Spill(t *testing.T, commit bool) {
	a := newChatApp(t)
	db, msgs := a.db, a.msgs
	scan := func(name string) { a.scan(name) }
	scan("first backup")
	mustExec(t, db, "PRAGMA wal_checkpoint(PASSIVE)")
	msgs(60) // the log restarts; many frames in it
	scan("after a restart")
	msgs(2) // frames the next read never sees
	mustExec(t, db, "PRAGMA wal_checkpoint(PASSIVE)")
	msgs(1) // restarts the log over the first slots only
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	// A small page cache, so that the transaction spills: a few pages,
	// dirtied again (the next spill rewrites them in place, and SQLite
	// zeroes the salts of every later frame until the commit), then many.
	mustExec(t, tx, "PRAGMA cache_size=10")
	mustExec(t, tx, "UPDATE msg SET body=randomblob(200) WHERE id <= 200")
	mustExec(t, tx, "UPDATE msg SET body=randomblob(201) WHERE id <= 200")
	mustExec(t, tx, "UPDATE msg SET body=randomblob(200) WHERE id > 200 AND id % 2 = 0")
	if !commit {
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
	}
	scan("unseen frames checkpointed, a restart, a spilled transaction")
	if commit {
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	mustExec(t, db, "PRAGMA cache_size=-2000")
	a.restored("after the spilled transaction")
}

// TestSQLiteRule3TornFrameHeader (from a second review): a frame header
// of the new generation written in two parts with a sync between them
// (a commit padded to the sector where overwrites are not power-safe), or
// torn by a power loss, holds a new page number under the previous
// generation's salts and checksum. Counted as one of the frames the last
// read never saw, it names a page the lost frame did not hold: the frames
// past the mark must continue the generation's checksum chain, and here
// the read is whole. The torn header is made by hand in the real -wal.
func TestSQLiteRule3TornFrameHeader(t *testing.T) {
	a := newChatApp(t)
	db, msgs := a.db, a.msgs
	a.scan("first backup")
	mustExec(t, db, "PRAGMA wal_checkpoint(PASSIVE)")
	msgs(20) // restarts the log
	a.scan("a restarted log")
	cache, err := LoadFileCache(a.cachePath)
	if err != nil {
		t.Fatal(err)
	}
	mark := cache.entries["msgstore.db"].Mark
	if mark == nil || mark.Frame == 0 {
		t.Fatalf("no mark after the second read: %+v", mark)
	}
	msgs(3) // frames the next read never sees
	mustExec(t, db, "PRAGMA wal_checkpoint(PASSIVE)")
	msgs(1) // restarts the log over its first slots only

	// Slot mark+1 holds the first frame the last read never saw. Give it
	// another page number, as a torn write of the new generation would.
	wal, err := os.OpenFile(a.dbPath+"-wal", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	off := int64(walHdrSize) + int64(mark.Frame)*int64(walFrameHdrSize+4096)
	var pgno [4]byte
	if _, err := wal.ReadAt(pgno[:], off); err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint32(pgno[:], binary.BigEndian.Uint32(pgno[:])+1)
	if _, err := wal.WriteAt(pgno[:], off); err != nil {
		t.Fatal(err)
	}
	if err := wal.Close(); err != nil {
		t.Fatal(err)
	}

	a.wholeBecause("a torn frame header", "does not continue")
}

// TestSQLiteRule3SlotsReadAgain: rule 3 reads the slots of the frames the
// last read never saw a second time, after the new generation's frames,
// and then only their frame headers. Unwritten, they read the same; a slot
// the new generation wrote meanwhile (its salts in the header: the first
// unseen frame's slot, and the slot that showed their end) does not. The
// headers are written by hand in the real -wal.
func TestSQLiteRule3SlotsReadAgain(t *testing.T) {
	a := newChatApp(t)
	a.scan("first backup")
	mustExec(t, a.db, "PRAGMA wal_checkpoint(PASSIVE)")
	a.msgs(20) // restarts the log
	a.scan("a restarted log")
	cache, err := LoadFileCache(a.cachePath)
	if err != nil {
		t.Fatal(err)
	}
	mark := cache.entries["msgstore.db"].Mark
	a.msgs(3) // frames the next read never sees
	mustExec(t, a.db, "PRAGMA wal_checkpoint(PASSIVE)")
	a.msgs(1) // restarts the log over its first slots only

	wal := testWAL(t, a.dbPath+"-wal")
	unseen := wal.previousTail(mark)
	if unseen.gone != "" || len(unseen.hdrs) < 2 {
		t.Fatalf("no end of the unseen frames shown: %q, %d slots", unseen.gone, len(unseen.hdrs))
	}
	if !wal.slotsUnchanged(mark.Frame+1, unseen.hdrs) {
		t.Fatal("slots nobody wrote read differently the second time")
	}
	f, err := os.OpenFile(a.dbPath+"-wal", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, k := range []int{0, len(unseen.hdrs) - 1} {
		off := wal.slotOffset(mark.Frame + 1 + uint32(k))
		if _, err := f.WriteAt(wal.hdr[16:24], off+8); err != nil {
			t.Fatal(err)
		}
		if wal.slotsUnchanged(mark.Frame+1, unseen.hdrs) {
			t.Errorf("slot %d of %d, written by the new generation, read the same", k+1, len(unseen.hdrs))
		}
		if _, err := f.WriteAt(unseen.hdrs[k][:], off); err != nil {
			t.Fatal(err)
		}
	}
}
