package source

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteMagic starts every SQLite 3 database file.
var sqliteMagic = []byte("SQLite format 3\x00")

func hasSQLiteHeader(b []byte) bool { return bytes.HasPrefix(b, sqliteMagic) }

// sqliteCompanions are the suffixes of the files SQLite keeps next to a
// database; they are never copied, the pages read through SQLite include them.
var sqliteCompanions = []string{"-wal", "-shm", "-journal"}

// companionBase returns the database name a companion file belongs to.
func companionBase(name string) (string, bool) {
	for _, s := range sqliteCompanions {
		if base, ok := strings.CutSuffix(name, s); ok && base != "" {
			return base, true
		}
	}
	return "", false
}

// errSQLiteLater means the database could not be read consistently right now
// (locked by a writer, or a hot journal that a read-only reader cannot roll
// back); the file is left for the next cycle.
var errSQLiteLater = errors.New("database is locked by its writer")

// errNotDatabase marks a file with the SQLite header that SQLite does not
// accept as a database.
var errNotDatabase = errors.New("not a valid SQLite database")

// notADatabase reports whether err means the file is not a database SQLite
// can read (damaged, or encrypted), as opposed to one it may not read now
// (locked, or lacking permission to its -shm): only the former may be read
// as plain bytes, since copying a live database's file is never consistent.
func notADatabase(err error) bool {
	if errors.Is(err, errNotDatabase) {
		return true
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
		return true
	}
	return false
}

// sqliteDSN opens path read-only through a file: URI, so SQLite honours
// mode=ro; the path is escaped because '?', '#' and '%' are special in URIs.
func sqliteDSN(path string, busyMs int) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	u := url.URL{Path: filepath.ToSlash(abs)}
	// _busy_timeout lets SQLite itself wait briefly on a checkpointing or
	// recovering writer; longer waits are retried in Go so ctx can stop them.
	return "file:" + u.EscapedPath() + fmt.Sprintf("?mode=ro&_busy_timeout=%d&_pragma=query_only(1)", busyMs)
}

// retryLater reports whether err means "a writer holds the database now".
func retryLater(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() {
	case sqlite3.SQLITE_READONLY_ROLLBACK, sqlite3.SQLITE_READONLY_RECOVERY, sqlite3.SQLITE_READONLY_CANTLOCK:
		return true
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}

// sqliteContent streams the pages of one database snapshot. The read
// transaction stays open until the last page was read (or close is called),
// which is what makes the pages a consistent database.
type sqliteContent struct {
	rel       string
	ctx       context.Context
	db        *sql.DB
	tx        *sql.Tx
	rows      *sql.Rows
	pageSize  int
	pageCount int64
	next      int64 // next expected page number
	err       error
	verified  bool

	// Incremental reads: pages in changed are read one by one through page,
	// the others are carried over from the previous version.
	incremental bool
	changed     []int64
	page        *sql.Stmt
	readPages   int64
	// atEnd, if set, runs once the changed pages were read; an error there
	// means the plan's premise did not hold and the read must be repeated.
	atEnd func() error
	// prefetched holds the changed pages, in order, once they were all
	// read at the first Next (see prefetchLimit); the transaction is over
	// by then.
	prefetched [][]byte
	fetchTried bool
	// prev finds the changed pages' previous versions (Chunk.Prev);
	// prevs holds them beside prefetched.
	prev  *prevPages
	prevs [][]byte

	// pieced, when set, is a whole read in short transactions; began is
	// when the first transaction began.
	pieced *pieces
	began  time.Time
	// shm is the database's -shm file (its wal-index header), opened
	// before the connection or right after it created the file, and
	// closed only after the connection (see shmHeaderOf).
	shm *os.File
	// dbf is the database file, open for direct reads (direct: it is the
	// file the read began on); closed after the connection too.
	dbf    *os.File
	direct bool
	// tr times the read's transactions (sqlite_trace.go); log gets its
	// summary.
	tr  txTrace
	log *zap.Logger
	// took: Next was called.
	took bool
	// seams, in tests, sets the read's test seams before its first page
	// is read (readSeams).
	seams func(*sqliteContent)
	// basePages is the previous snapshot's page count (incremental reads).
	basePages int64
	// sums hashes the pages delivered that the mark keeps (sqlite_sums.go).
	sums pageSums
}

// readSeams is implemented by tests' visitors: seams is given each
// database read before it reads its first page.
type readSeams interface {
	seams(c *sqliteContent)
}

// onePageQuery reads one page of the snapshot.
const onePageQuery = "SELECT data FROM sqlite_dbpage WHERE pgno = ?"

// prefetchLimit bounds the changed pages an incremental read reads at once
// and then ends its read transaction: the backup then works through the
// carried pages (a few hundred thousand for a 1 GB database) without
// holding a snapshot that makes the app's RESTART and TRUNCATE checkpoints
// wait. Larger changes are read page by page inside the transaction.
const prefetchLimit = 16 << 20

// openSQLite starts a read transaction on the database at abs, retrying while
// a writer holds it, for at most budget (and never past ctx).
func openSQLite(ctx context.Context, rel, abs string, budget time.Duration) (*sqliteContent, error) {
	deadline := time.Now().Add(budget)
	wait := 10 * time.Millisecond
	for {
		c, err := openSQLiteOnce(ctx, rel, abs)
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !retryLater(err) {
			return nil, err
		}
		if time.Now().Add(wait).After(deadline) {
			return nil, fmt.Errorf("%w (%v); it will be read in a later cycle", errSQLiteLater, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

func openSQLiteOnce(ctx context.Context, rel, abs string) (_ *sqliteContent, err error) {
	db, err := sql.Open("sqlite", sqliteDSN(abs, 100))
	if err != nil {
		return nil, fmt.Errorf("open database %q: %w", rel, err)
	}
	db.SetMaxOpenConns(1)
	c := &sqliteContent{rel: rel, ctx: ctx, db: db, next: 1}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	c.began = time.Now()
	c.tr.at("open")
	if c.tx, err = db.BeginTx(ctx, nil); err != nil {
		return nil, fmt.Errorf("begin read transaction on %q: %w", rel, err)
	}
	c.tr.begin(c.began)
	// BEGIN is deferred: the first read takes the snapshot (in WAL mode, the
	// WAL read mark) that every later statement of this transaction sees.
	// (The phase before, "open", opened the connection: no lock yet.)
	c.tr.at("snapshot")
	var n int64
	if err = c.tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		return nil, fmt.Errorf("read schema of %q: %w", rel, err)
	}
	if err = c.tx.QueryRowContext(ctx, "PRAGMA page_size").Scan(&c.pageSize); err != nil {
		return nil, fmt.Errorf("read page size of %q: %w", rel, err)
	}
	if err = c.tx.QueryRowContext(ctx, "PRAGMA page_count").Scan(&c.pageCount); err != nil {
		return nil, fmt.Errorf("read page count of %q: %w", rel, err)
	}
	if c.pageSize < 512 || c.pageSize > 65536 || c.pageCount < 1 {
		return nil, fmt.Errorf("database %q reports page size %d and %d pages: %w", rel, c.pageSize, c.pageCount, errNotDatabase)
	}
	return c, nil
}

// startAll starts reading every page of the snapshot.
func (c *sqliteContent) startAll() error {
	var err error
	// sqlite_dbpage consumes ORDER BY pgno itself (no sorter; see
	// TestSQLitePagePlanStreams), so rows stream straight from the pager.
	if c.rows, err = c.tx.QueryContext(c.ctx, "SELECT pgno, data FROM sqlite_dbpage ORDER BY pgno"); err != nil {
		return c.fail(fmt.Errorf("read pages of %q: %w", c.rel, err))
	}
	return nil
}

// startChanged starts reading only the pages in changed (sorted); the
// others are delivered as carried over.
func (c *sqliteContent) startChanged(changed []int64, atEnd func() error) error {
	var err error
	if c.page, err = c.tx.PrepareContext(c.ctx, onePageQuery); err != nil {
		return c.fail(fmt.Errorf("read pages of %q: %w", c.rel, err))
	}
	c.incremental, c.changed, c.atEnd = true, changed, atEnd
	return nil
}

// prefetch reads every changed page and ends the read transaction, when
// they fit prefetchLimit: in short transactions (readChangedPieces),
// which may add pages that changed in between.
func (c *sqliteContent) prefetch() error {
	c.fetchTried = true
	c.tr.at("changed pages")
	if int64(len(c.changed))*int64(c.pageSize) > prefetchLimit {
		c.sums.over = true // more pages than a mark keeps hashes of
		return nil
	}
	got, err := c.readChangedPieces()
	if err != nil {
		return c.fail(err)
	}
	// The open transaction's snapshot is the read's.
	c.changed = c.changed[:0]
	for pg := range got {
		if pg <= c.pageCount {
			c.changed = append(c.changed, pg)
		}
	}
	slices.Sort(c.changed)
	pages := make([][]byte, len(c.changed))
	for i, pg := range c.changed {
		pages[i] = got[pg]
		c.sums.put(pg, pages[i])
	}
	// Pages added since the previous snapshot come through frames: read.
	if n, added := int64(len(c.changed)), c.pageCount-c.basePages; added > 0 && (n < added || c.changed[n-added] != c.basePages+1) {
		return c.fail(fmt.Errorf("%q: the page count grew by pages no frame holds during an incremental read: %w", c.rel, ErrChanged))
	}
	// Read while the transaction holds the log: no restart overwrites
	// the frames meanwhile.
	c.prevs = make([][]byte, len(c.changed))
	for i, pgno := range c.changed {
		c.prevs[i] = c.prev.read(pgno)
	}
	if c.atEnd != nil {
		if err := c.atEnd(); err != nil {
			return c.fail(err)
		}
		c.atEnd = nil
	}
	if c.pieced != nil && c.pieced.last != nil {
		c.pieced.last(c.tx)
	}
	c.prefetched = pages
	c.endTx()
	return nil
}

// readPage reads page pgno in the transaction.
func (c *sqliteContent) readPage(pgno int64) ([]byte, error) {
	var data []byte
	if err := c.page.QueryRowContext(c.ctx, pgno).Scan(&data); err != nil {
		return nil, c.fail(fmt.Errorf("read page %d of %q: %w", pgno, c.rel, err))
	}
	if len(data) != c.pageSize {
		return nil, c.fail(fmt.Errorf("database %q: page %d has %d bytes, want %d; the database may be damaged", c.rel, pgno, len(data), c.pageSize))
	}
	c.readPages++
	return data, nil
}

// nextChanged delivers the next page of an incremental read.
func (c *sqliteContent) nextChanged() (Chunk, error) {
	if !c.fetchTried {
		if err := c.prefetch(); err != nil {
			return Chunk{}, err
		}
	}
	if c.next > c.pageCount {
		if c.atEnd != nil {
			if err := c.atEnd(); err != nil {
				return Chunk{}, c.fail(err)
			}
		}
		c.verified = true
		c.err = io.EOF
		c.close()
		return Chunk{}, io.EOF
	}
	pgno := c.next
	if len(c.changed) == 0 || c.changed[0] != pgno {
		// Up to the next changed page, or the end: changed is sorted.
		end := c.pageCount + 1
		if len(c.changed) > 0 {
			end = c.changed[0]
		}
		if end <= pgno {
			return Chunk{}, c.fail(fmt.Errorf("internal error: database %q: page %d listed as changed after page %d", c.rel, end, pgno))
		}
		c.next = end
		return Chunk{Carried: int(end - pgno)}, nil
	}
	c.next++
	c.changed = c.changed[1:]
	if c.prefetched != nil {
		data, prev := c.prefetched[0], c.prevs[0]
		c.prefetched, c.prevs = c.prefetched[1:], c.prevs[1:]
		return Chunk{Data: data, Prev: prev}, nil
	}
	data, err := c.readPage(pgno)
	if err != nil {
		return Chunk{}, err
	}
	return Chunk{Data: data, Prev: c.prev.read(pgno)}, nil
}

func (c *sqliteContent) Incompressible() bool { return false }

func (c *sqliteContent) size() int64 { return int64(c.pageSize) * c.pageCount }

func (c *sqliteContent) Next() (Chunk, error) {
	c.took = true
	if c.err != nil {
		return Chunk{}, c.err
	}
	if c.incremental {
		return c.nextChanged()
	}
	if c.pieced != nil {
		return c.nextPieced()
	}
	if !c.rows.Next() {
		if err := c.rows.Err(); err != nil {
			return Chunk{}, c.fail(fmt.Errorf("read pages of %q: %w", c.rel, err))
		}
		if c.next-1 != c.pageCount {
			return Chunk{}, c.fail(fmt.Errorf("database %q: read %d pages of %d in one transaction; the database may be damaged", c.rel, c.next-1, c.pageCount))
		}
		c.verified = true
		c.err = io.EOF
		c.close()
		return Chunk{}, io.EOF
	}
	var pgno int64
	var data sql.RawBytes
	if err := c.rows.Scan(&pgno, &data); err != nil {
		return Chunk{}, c.fail(fmt.Errorf("read page %d of %q: %w", c.next, c.rel, err))
	}
	if pgno != c.next || len(data) != c.pageSize {
		return Chunk{}, c.fail(fmt.Errorf("database %q: got page %d of %d bytes, want page %d of %d bytes; the database may be damaged",
			c.rel, pgno, len(data), c.next, c.pageSize))
	}
	c.next++
	return Chunk{Data: data}, nil
}

func (c *sqliteContent) fail(err error) error {
	c.err = err
	c.close()
	return err
}

// close ends the read transaction and the connection; safe to call twice.
func (c *sqliteContent) close() {
	c.endTx()
	if c.err == nil {
		c.err = fmt.Errorf("database %q: content already closed", c.rel)
	}
}

// endTx ends the read transaction and the connection.
func (c *sqliteContent) endTx() {
	if c.rows != nil {
		c.rows.Close()
		c.rows = nil
	}
	c.endPieceTx()
	if p := c.pieced; p != nil {
		for _, st := range []*sql.Stmt{p.begin, p.pages, p.one} {
			if st != nil {
				st.Close()
			}
		}
		p.begin, p.pages, p.one = nil, nil, nil
	}
	if c.db != nil {
		c.db.Close()
		c.db = nil
	}
	// The read's own descriptors of the database and its -shm, and the
	// previous versions' ones, close after the connection: closing one
	// drops every lock the process holds on the file.
	c.tr.log(c.log, c.rel)
	c.prev.close()
	for _, f := range []**os.File{&c.shm, &c.dbf} {
		if *f != nil {
			(*f).Close()
			*f = nil
		}
	}
	c.direct = false
}
