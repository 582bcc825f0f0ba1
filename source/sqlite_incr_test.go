package source

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// pageKeeper is a Visitor that keeps every version it was given by token, so
// it can resolve carried pages the way the backup does; for every database
// it also reads the whole snapshot through the same read transaction and
// checks that the incremental result is byte for byte that full scan.
type pageKeeper struct {
	*recorder
	mu       sync.Mutex
	versions map[string][]byte
	// last read of each path: was it incremental, how many pages were read,
	// in how many chunks
	read, chunks map[string]int
	incr         map[string]bool
	whole        map[string]bool // the full-scan comparison ran
	// afterFirst, if set, runs once the first chunk of a file was read;
	// beforeFirst before the first Next, as the backup's work before it
	// takes a page (a dictionary sample and its training, the previous
	// version's chunk list).
	afterFirst  func()
	beforeFirst func(c Content)
	// between, if set, runs between the transactions of a read in pieces
	// (none open), before transaction tx+1 begins; afterSnapshot once
	// transaction tx fixed its snapshot, before the read looks at the log.
	between, afterSnapshot func(tx int)
	// inLast, if set, runs inside the last transaction of a read in
	// pieces, once its pages were read; inTx inside every transaction of
	// a read in pieces, after each batch of pages.
	inLast, inTx func()
	// inPage runs inside a transaction of a read in pieces after each
	// page read through SQLite; noDirect reads every page through SQLite.
	inPage   func()
	noDirect bool
	// inSample runs inside the dictionary sample's transactions, after
	// each page.
	inSample func()
	// txs and starts: how many transactions the last read in pieces
	// took, and how often it started from page 1; long: it ended in one
	// long transaction.
	txs, starts map[string]int
	long        map[string]bool
	// direct: the pages the last read in pieces read from the database
	// file itself.
	direct map[string]int64
	// prev, if set, gets every page a read delivered in order (not
	// carried over) with its Chunk.Prev.
	prev func(pgno int, prev []byte)
	// full holds the full scan of each read's snapshot (seams).
	full    map[string][]byte
	fullErr map[string]error
}

func newPageKeeper(t testing.TB) *pageKeeper {
	k := &pageKeeper{recorder: newRecorder(t), versions: map[string][]byte{},
		read: map[string]int{}, chunks: map[string]int{}, incr: map[string]bool{}, whole: map[string]bool{},
		txs: map[string]int{}, starts: map[string]int{}, long: map[string]bool{}, direct: map[string]int64{},
		full: map[string][]byte{}, fullErr: map[string]error{}}
	k.onFile = k.file
	return k
}

func (k *pageKeeper) file(info FileInfo, c Content) ([]byte, error) {
	sc, _ := c.(*sqliteContent)
	if sc != nil && sc.tx != nil && (sc.pieced == nil || sc.incremental) {
		// One transaction, open until the last page: compare with it.
		k.snapshot(info.Path, sc.tx)
	}
	k.mu.Lock()
	base := k.versions[string(info.Base)]
	k.mu.Unlock()
	if info.Base != nil && base == nil {
		return nil, fmt.Errorf("%s: base token names no version", info.Path)
	}
	if k.beforeFirst != nil {
		k.beforeFirst(c)
	}
	var buf bytes.Buffer
	pages, chunks := 0, 0
	for i := 0; ; i++ {
		ch, err := c.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		chunks++
		if i == 0 && k.afterFirst != nil {
			k.afterFirst()
		}
		if ch.Page > 0 {
			// Delivered again; i counts pages in order only.
			i--
			off := int(ch.Page-1) * info.PageSize
			if off >= buf.Len() {
				return nil, fmt.Errorf("%s: page %d delivered again after %d bytes", info.Path, ch.Page, buf.Len())
			}
			if ch.Truncate {
				buf.Truncate(off)
				continue
			}
			pages++
			copy(buf.Bytes()[off:], ch.Data)
			continue
		}
		if ch.Carried > 0 {
			ps, n := info.PageSize, ch.Carried
			if info.Base == nil || (i+n)*ps > len(base) {
				return nil, fmt.Errorf("%s: pages %d to %d carried without a base holding them", info.Path, i+1, i+n)
			}
			buf.Write(base[i*ps : (i+n)*ps])
			i += n - 1
			continue
		}
		pages++
		if k.prev != nil {
			k.prev(i+1, ch.Prev)
		}
		buf.Write(ch.Data)
	}
	k.mu.Lock()
	full, fullErr := k.full[info.Path], k.fullErr[info.Path]
	delete(k.full, info.Path)
	delete(k.fullErr, info.Path)
	k.mu.Unlock()
	if fullErr != nil {
		return nil, fullErr
	}
	data := buf.Bytes()
	if sc != nil && sc.pieced != nil {
		k.mu.Lock()
		k.txs[info.Path], k.starts[info.Path], k.long[info.Path] = sc.pieced.txs, sc.pieced.starts, sc.pieced.long
		k.direct[info.Path] = sc.pieced.direct
		k.mu.Unlock()
	}
	if full != nil && !bytes.Equal(data, full) {
		k.t.Errorf("%s: the read (%d pages read, base %v) differs from a full scan of the same snapshot", info.Path, pages, info.Base != nil)
	}
	sum := sha256.Sum256(data)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.versions[string(sum[:])] = data
	k.read[info.Path], k.incr[info.Path], k.whole[info.Path] = pages, info.Base != nil, full != nil
	k.chunks[info.Path] = chunks
	k.recorder.mu.Lock()
	k.contents[info.Path] = data
	k.recorder.mu.Unlock()
	return sum[:], nil
}

// seams sets a database read's test seams before it reads its first page
// (readSeams): the read is compared with a full scan of the snapshot it
// delivers, read through its own last transaction.
func (k *pageKeeper) seams(sc *sqliteContent) {
	sc.pieced.between, sc.pieced.afterSnapshot, sc.pieced.inTx = k.between, k.afterSnapshot, k.inTx
	sc.pieced.inSample, sc.pieced.inPage = k.inSample, k.inPage
	if k.noDirect {
		sc.direct = false
	}
	sc.pieced.last = func(tx *sql.Tx) {
		if k.inLast != nil {
			k.inLast()
		}
		k.snapshot(sc.rel, tx)
	}
}

// snapshot keeps the full scan of path's read through tx.
func (k *pageKeeper) snapshot(path string, tx *sql.Tx) {
	full, err := wholeSnapshot(tx)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.full[path], k.fullErr[path] = full, err
}

// wholeSnapshot reads every page through the read's own transaction.
func wholeSnapshot(tx *sql.Tx) ([]byte, error) {
	rows, err := tx.Query("SELECT data FROM sqlite_dbpage ORDER BY pgno")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []byte
	for rows.Next() {
		var p []byte
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, p...)
	}
	return out, rows.Err()
}

func (k *pageKeeper) Unchanged(info FileInfo, token []byte) error {
	k.mu.Lock()
	data := k.versions[string(token)]
	k.mu.Unlock()
	k.recorder.mu.Lock()
	k.contents[info.Path] = data
	k.recorder.mu.Unlock()
	return k.recorder.Unchanged(info, token)
}

// appDB opens the database as a chat app would: one connection, WAL, no
// automatic checkpoints (the test says when).
func appDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db := openDB(t, path, "WAL")
	db.SetMaxOpenConns(1)
	mustExec(t, db, "PRAGMA wal_autocheckpoint=0")
	return db
}

func insertMessage(t testing.TB, db *sql.DB, id int) {
	t.Helper()
	mustExec(t, db, "INSERT INTO msg VALUES(?, randomblob(?))", id, 100+id%400)
	mustExec(t, db, "UPDATE meta SET n=? WHERE k='last'", id)
}

// TestSQLiteIncrementalAgainstRealWriter runs a chat app's life through
// checkpoints of every kind, VACUUM, journal mode switches and a file
// replaced by rename. After each step a scan reads the database; whether it
// may carry pages over is stated, and whatever it does the result must be
// the full scan of the same snapshot, and a sound database.
func TestSQLiteIncrementalAgainstRealWriter(t *testing.T) {
	for _, piece := range pieceSizes {
		t.Run(piece.name, func(t *testing.T) {
			// Each piece size has its own database and writer; run side by
			// side they overlap SQLite's syncs (the package's longest test).
			t.Parallel()
			incrementalAgainstRealWriter(t, piece)
		})
	}
}

// pieceSizes are the ways a whole read is split in tests: as in
// production, in pieces of 16 pages, and in the fewest pages a piece
// whose time is up holds.
var pieceSizes = []pieceSize{
	{"default", defaultPieceBytes, defaultPieceTime},
	{"16 pages", 16 * 4096, 0},
	{"time up", defaultPieceBytes, time.Nanosecond},
}

type pieceSize struct {
	name  string
	bytes int
	time  time.Duration
}

func incrementalAgainstRealWriter(t *testing.T, piece pieceSize) {
	root := t.TempDir()
	dbPath := filepath.Join(root, "msgstore.db")
	db := appDB(t, dbPath)
	createMessages(t, db, 3000)
	next := 3001
	cachePath := filepath.Join(t.TempDir(), "cache")
	k := newPageKeeper(t)

	step := func(name string, wantIncr bool, maxRead int, op func()) {
		t.Helper()
		op()
		// Each step loads the cache the last one saved, as a new process
		// would: the marks must survive the file.
		cache, err := LoadFileCache(cachePath)
		if err != nil {
			t.Fatal(err)
		}
		s := NewScanner(root, Options{Cache: cache, CarryPages: true})
		future(s)
		s.pieceBytes, s.pieceTime = piece.bytes, piece.time
		if err := s.Scan(context.Background(), k); err != nil {
			t.Fatalf("%s: scan: %v", name, err)
		}
		if err := cache.Save(); err != nil {
			t.Fatal(err)
		}
		if len(k.warns) != 0 {
			t.Fatalf("%s: warnings %v", name, k.warns)
		}
		got := k.incr["msgstore.db"]
		if got != wantIncr {
			t.Errorf("%s: incremental = %v, want %v (%d pages read)", name, got, wantIncr, k.read["msgstore.db"])
		}
		if !k.whole["msgstore.db"] {
			t.Errorf("%s: the database was not read", name)
		}
		if wantIncr && k.read["msgstore.db"] > maxRead {
			t.Errorf("%s: read %d pages, want at most %d", name, k.read["msgstore.db"], maxRead)
		}
		// Unchanged pages come in runs: one chunk before each page read
		// at most, and one after the last.
		if read, chunks := k.read["msgstore.db"], k.chunks["msgstore.db"]; got && chunks > 2*read+1 {
			t.Errorf("%s: %d chunks for %d pages read: carried pages one at a time", name, chunks, read)
		}
		if n := restoreDB(t, k.contents["msgstore.db"]); n != next-1 {
			t.Errorf("%s: restored %d rows, want %d", name, n, next-1)
		}
		delete(k.whole, "msgstore.db")
	}
	msg := func() { insertMessage(t, db, next); next++ }
	exec := func(q string) func() { return func() { mustExec(t, db, q) } }
	both := func(fs ...func()) func() {
		return func() {
			for _, f := range fs {
				f()
			}
		}
	}

	step("first backup", false, 0, func() {})
	step("one message", true, 24, msg)
	step("one more message", true, 24, msg)
	step("message and PASSIVE checkpoint", true, 24, both(msg, exec("PRAGMA wal_checkpoint(PASSIVE)")))
	// The checkpoint above copied every frame: this commit restarts the
	// -wal and the checkpoint copies frames the last scan never saw into
	// the database file. Nothing tells which pages they held.
	step("message into a new WAL generation, then FULL checkpoint", false, 0, both(msg, exec("PRAGMA wal_checkpoint(FULL)")))
	step("message", true, 24, msg)
	step("FULL checkpoint of frames the last scan saw", true, 0, exec("PRAGMA wal_checkpoint(FULL)"))
	// The next commit restarts the -wal: a new generation, but the
	// database file is as the last scan saw it.
	step("message after the WAL restarts", true, 24, msg)
	step("RESTART checkpoint", true, 24, both(msg, exec("PRAGMA wal_checkpoint(RESTART)")))
	step("message into the restarted WAL", true, 24, msg)
	step("TRUNCATE checkpoint changes the database file", false, 0, both(msg, exec("PRAGMA wal_checkpoint(TRUNCATE)")))
	step("message after TRUNCATE", true, 24, msg)
	step("growth", true, 400, func() {
		for i := 0; i < 300; i++ {
			msg()
		}
	})
	step("deletes and VACUUM", true, 1<<20, both(exec("DELETE FROM msg WHERE id % 3 = 0 AND id < 1000"), func() {
		// Deleted ids leave the prefix restoreDB checks: put them back as
		// empty rows so the table stays ids 1..n.
		mustExec(t, db, "WITH RECURSIVE s(x) AS (SELECT 3 UNION ALL SELECT x+3 FROM s WHERE x < 999) INSERT INTO msg SELECT x, x'' FROM s")
	}, exec("VACUUM")))
	step("journal_mode switched to DELETE and back", false, 0, both(exec("PRAGMA journal_mode=DELETE"), msg, exec("PRAGMA journal_mode=WAL")))
	step("message after the switch", true, 24, msg)
	step("page size changed", false, 0, both(exec("PRAGMA journal_mode=DELETE"), exec("PRAGMA page_size=8192"), exec("VACUUM"), exec("PRAGMA journal_mode=WAL")))
	step("message at the new page size", true, 24, msg)
	step("replaced by rename", false, 0, func() {
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(t.TempDir(), "new.db")
		nd := appDB(t, tmp)
		mustExec(t, nd, "ATTACH DATABASE ? AS old", dbPath)
		mustExec(t, nd, "CREATE TABLE msg AS SELECT * FROM old.msg; CREATE TABLE meta AS SELECT * FROM old.meta")
		mustExec(t, nd, "DETACH DATABASE old")
		if err := nd.Close(); err != nil {
			t.Fatal(err)
		}
		for _, suffix := range []string{"-wal", "-shm"} {
			os.Remove(dbPath + suffix)
		}
		if err := os.Rename(tmp, dbPath); err != nil {
			t.Fatal(err)
		}
		db = appDB(t, dbPath)
	})
	step("message into the replaced file", true, 24, msg)
}

// TestSQLiteIncrementalWhileWriting scans again and again while the app
// commits and checkpoints in every mode: each read, incremental or not,
// must be the full scan of its own snapshot and a sound database.
func TestSQLiteIncrementalWhileWriting(t *testing.T) {
	for _, piece := range pieceSizes {
		t.Run(piece.name, func(t *testing.T) {
			t.Parallel() // as in TestSQLiteIncrementalAgainstRealWriter
			incrementalWhileWriting(t, piece.bytes, piece.time)
		})
	}
}

// writesPerScan is how many messages the writer of
// TestSQLiteIncrementalWhileWriting commits during each scan.
const writesPerScan = 50

// scansWhileWriting is how many scans TestSQLiteIncrementalWhileWriting
// makes: with a checkpoint asked for on every third, each of the four
// modes is asked for twice. (It made 40; under -race each scan's restored copy
// costs ~1 s, most of it the race detector's, for no case not met.)
const scansWhileWriting = 24

func incrementalWhileWriting(t *testing.T, pieceBytes int, pieceTime time.Duration) {
	root := t.TempDir()
	dbPath := filepath.Join(root, "msgstore.db")
	db := appDB(t, dbPath)
	createMessages(t, db, 2000)

	stop := make(chan struct{})
	// The test asks for checkpoints (on every third scan) so that some scans
	// follow none, whatever the speed of the machine.
	checkpoint := make(chan struct{}, 1)
	// Each scan lets the writer commit writesPerScan more messages, which
	// it does while the scan reads. Left to commit flat out (and with no
	// automatic checkpoints), it outran the scans on a slow machine: the
	// -wal grew to 2.6 GB in 16 minutes under -race, every whole read
	// with it, and the test took most of CI's time.
	credit := make(chan int, 1)
	writerErr := make(chan error, 1)
	go func() {
		n := 0
		modes := []string{"PASSIVE", "FULL", "RESTART", "TRUNCATE"}
		writerErr <- func() error {
			i := 2001
			for {
				var left int
				select {
				case <-stop:
					return nil
				case left = <-credit:
				}
				for ; left > 0; left-- {
					select {
					case <-stop:
						return nil
					default:
					}
					if err := commitMessage(db, int64(i)); err != nil {
						return err
					}
					i++
					select {
					case <-checkpoint:
						n++
						if _, err := db.Exec("PRAGMA wal_checkpoint(" + modes[n%len(modes)] + ")"); err != nil {
							return err
						}
					default:
					}
				}
			}
		}()
	}()
	stopWriter := sync.OnceValue(func() error { close(stop); return <-writerErr })
	t.Cleanup(func() { stopWriter() })

	s := NewScanner(root, Options{Cache: emptyCache(t), CarryPages: true})
	s.pieceBytes, s.pieceTime = pieceBytes, pieceTime
	k := newPageKeeper(t)
	incremental := 0
	for i := 0; i < scansWhileWriting; i++ {
		if i%3 == 0 {
			select {
			case checkpoint <- struct{}{}:
			default:
			}
		}
		select {
		case credit <- writesPerScan:
		default: // the writer has not taken the last scan's yet
		}
		if err := s.Scan(context.Background(), k); err != nil {
			t.Fatalf("scan %d: %v", i, err)
		}
		if !k.whole["msgstore.db"] {
			continue // unchanged since the last scan (or left for later)
		}
		delete(k.whole, "msgstore.db")
		if k.incr["msgstore.db"] {
			incremental++
		}
		restoreDB(t, k.contents["msgstore.db"])
	}
	if err := stopWriter(); err != nil {
		t.Fatalf("writer: %v", err)
	}
	if incremental == 0 {
		t.Fatal("no read was incremental: the test proves nothing")
	}
	t.Logf("%d of %d reads were incremental", incremental, scansWhileWriting)
}

// TestSQLiteIncrementalEndsTransactionEarly: an incremental read holds
// its read transaction only while it reads the changed pages, not while
// the backup works through the carried ones; otherwise the app's
// TRUNCATE checkpoint waits on the backup.
func TestSQLiteIncrementalEndsTransactionEarly(t *testing.T) {
	root := t.TempDir()
	dbPath := filepath.Join(root, "msgstore.db")
	db := appDB(t, dbPath)
	createMessages(t, db, 3000)
	cache, err := LoadFileCache(filepath.Join(t.TempDir(), "cache"))
	if err != nil {
		t.Fatal(err)
	}
	k := newPageKeeper(t)
	scanOnce := func() {
		t.Helper()
		s := NewScanner(root, Options{Cache: cache, CarryPages: true})
		future(s)
		if err := s.Scan(context.Background(), k); err != nil {
			t.Fatalf("scan: %v", err)
		}
	}
	scanOnce()
	insertMessage(t, db, 3001)
	checkpointed := false
	k.afterFirst = func() {
		// No waiting: a reader still in its transaction makes this busy.
		mustExec(t, db, "PRAGMA busy_timeout=0")
		var busy, logFrames, done int
		if err := db.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done); err != nil {
			t.Fatal(err)
		}
		if busy != 0 {
			t.Errorf("the app's TRUNCATE checkpoint was blocked by the backup's read transaction after its first page")
		}
		checkpointed = true
	}
	scanOnce()
	if !checkpointed || !k.incr["msgstore.db"] {
		t.Fatalf("the second read was not incremental (checkpointed %v)", checkpointed)
	}
	if n := restoreDB(t, k.contents["msgstore.db"]); n != 3001 {
		t.Errorf("restored %d rows, want 3001", n)
	}
}
