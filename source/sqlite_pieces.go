package source

import (
	"database/sql"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/faults"
)

// A whole read in short read transactions. One long transaction makes the
// app's RESTART and TRUNCATE checkpoints wait until the backup consumed the
// last page; so a whole read reads a piece of the database per transaction
// into memory, ends the transaction, and delivers the piece. Between two
// transactions it applies the reasoning of incremental reads (sqlite_wal.go,
// docs/sqlite.md): while the -wal is the same generation and still holds
// the frame the previous transaction's mark names, the pages that may have
// changed in between are the pages of the frames after that mark. Those of
// them already read are read again in the last transaction, whose snapshot
// (and page count) the read is. When the generation changed, the read
// starts again from page 1; after pieceStarts starts it reads in one
// transaction, as before.

const (
	// defaultPieceBytes and defaultPieceTime bound what one read
	// transaction reads: it ends after the page that crossed either (and
	// after at least minPiecePages), so the app's checkpoint waits a few
	// ms at most, also on a busy machine. The pieces' buffer is made at
	// defaultPieceBytes and is live through a whole read: at 1 MiB rather
	// than 4 it takes 3 MiB less of a first backup's peak heap, and the
	// first backup took no longer (a transaction costs little beside
	// compressing 1 MiB of pages; docs/benchmarks.md, "Twenty-sixth
	// session").
	defaultPieceBytes = 1 << 20
	defaultPieceTime  = 2 * time.Millisecond
	minPiecePages     = 32
	// pieceStarts bounds the starts of a read in pieces.
	pieceStarts = 3
	// pieceProbePages is how many pages a transaction reads between two
	// looks for a checkpointer waiting on it, at most; it looks sooner
	// once pieceProbeTime passed since the last look (or its BEGIN): on a
	// loaded machine one page can take milliseconds in wall time, and a
	// checkpointer that began waiting before it would wait for the rest
	// of the batch too, past its busy handler's retry at 3 ms.
	pieceProbePages = 16
	pieceProbeTime  = 500 * time.Microsecond
	// ckptYieldMax bounds the wait for one checkpoint between two
	// transactions, ckptYieldTotal the waits of one read together (an
	// app checkpointing without end must not stop the backup); ckptPoll
	// is how often the wait looks at the lock.
	ckptYieldMax   = 100 * time.Millisecond
	ckptYieldTotal = time.Second
	ckptPoll       = 200 * time.Microsecond
)

// pieces is the state of a whole read in short transactions.
type pieces struct {
	abs  string
	file statID // the database file's identity before the read began
	size int64  // pages per transaction, at most
	// budget is the time one transaction may read for (0: no limit);
	// began is when the current one began, looked when it last looked
	// at the checkpoint lock.
	budget time.Duration
	began  time.Time
	looked time.Time
	log    *zap.Logger
	// view is what the last transaction saw of the log.
	view txView
	// high is the highest page delivered; a page up to it is delivered
	// again (Chunk.Page) when read again.
	high int64
	// stale holds pages read in an earlier transaction that may have
	// changed since; redo, in the last transaction, those still to read.
	stale map[int64]bool
	redo  []int64
	// queue holds the piece's chunks, qi the next to deliver: consumed by
	// index, so the next piece reuses its array (a slice advanced past
	// each chunk lost it, and every piece grew a new one).
	queue  []Chunk
	qi     int
	buf    []byte
	starts int
	long   bool // one transaction to the end, no more gaps
	done   bool
	txs    int // transactions begun, the first included
	// yields counts the transactions ended early for a checkpointer,
	// waited the time spent waiting for checkpoints between two.
	yields int
	waited time.Duration
	// framed is the set of pages the log holds frames of; direct counts
	// the pages read from the database file (sqlite_direct.go).
	framed framedSet
	direct int64
	// begin, pages and one are prepared once on the connection:
	// preparing them in every transaction cost more than a short piece's
	// reads.
	begin, pages, one *sql.Stmt

	// Test seams: between runs when no transaction is open, after
	// transaction tx (from 1) ended; last runs inside the transaction whose
	// snapshot the read is, after its last page was read.
	between func(tx int)
	last    func(tx *sql.Tx)
	// afterSnapshot runs once transaction tx fixed its snapshot, before
	// the log is read: a commit there is in the log, not in the snapshot.
	afterSnapshot func(tx int)
	// inTx runs inside a transaction after every batch of pieceProbePages
	// pages: a test holds it there as a machine too busy to run the read
	// would.
	inTx func()
	// inPage runs inside a transaction after each page read through
	// SQLite: a test makes one page slow there.
	inPage func()
	// inSample runs inside a transaction of the dictionary sample, after
	// each page it read.
	inSample func()
}

// startPieces starts a whole read in pieces on the open transaction, whose
// mark planRead computed; file is the database file's identity from before
// that transaction began.
func (c *sqliteContent) startPieces(abs string, file statID, mark walMark, pieceBytes int, pieceTime time.Duration, log *zap.Logger) {
	c.newPieces(abs, file, mark, pieceBytes, pieceTime, log)
	// The pieces' buffer, made once at what a piece may hold (or the
	// whole database): grown batch by batch, it moved into new memory at
	// almost every piece as the pieces lengthened, ~14 MB allocated and
	// paged in for a buffer of 4 MiB (the pieces' size then) on the
	// bench's --quick database.
	c.pieced.buf = make([]byte, 0, min(c.pieced.size, c.pageCount)*int64(c.pageSize))
	c.openDirect(abs, file)
	c.refreshFramed()
	if c.seams != nil {
		c.seams(c)
	}
	// The first piece is read now, in the transaction that planned the
	// read: it ends before the backup's work ahead of its first page (a
	// dictionary and the previous version's references), which the
	// app's checkpoint would otherwise wait for. An error is Next's.
	if err := c.readPiece(); err != nil {
		c.fail(err)
	}
}

// newPieces sets up a read in short transactions on the open one (a whole
// read, or the changed pages of an incremental one).
func (c *sqliteContent) newPieces(abs string, file statID, mark walMark, pieceBytes int, pieceTime time.Duration, log *zap.Logger) {
	p := &pieces{abs: abs, file: file, log: log, starts: 1, txs: 1, budget: pieceTime, began: c.began,
		size: max(1, int64(pieceBytes/c.pageSize)), stale: map[int64]bool{}}
	// The connection creates a missing -shm; it stays open until the
	// connection is closed (see shmHeaderOf).
	if c.shm == nil {
		c.shm, _ = os.Open(abs + "-shm")
	}
	c.pieced = p
	wal := openWAL(abs+"-wal", c.pageSize)
	p.view = newView(wal, mark, shmHeaderOf(c.shm))
	if wal != nil {
		wal.close()
	}
	// Without a -wal nor a wal-index (a rollback-journal database) there
	// is nothing to stitch pieces with.
	p.long = mark.Hdr == [walHdrSize]byte{} && !p.view.shm.valid
}

// nextPieced delivers the next chunk of a read in pieces.
func (c *sqliteContent) nextPieced() (Chunk, error) {
	p := c.pieced
	for p.qi == len(p.queue) {
		if p.done {
			c.verified = true
			c.err = io.EOF
			c.close()
			return Chunk{}, io.EOF
		}
		if err := c.readPiece(); err != nil {
			return Chunk{}, c.fail(err)
		}
	}
	ch := p.queue[p.qi]
	p.queue[p.qi] = Chunk{}
	p.qi++
	if ch.Page == 0 {
		ch.Prev = c.prev.next() // sqlite_prev.go
	}
	return ch, nil
}

// readPiece reads the next piece into the queue, beginning a transaction
// when none is open and ending it after the piece unless it must go on.
func (c *sqliteContent) readPiece() error {
	p := c.pieced
	if c.tx == nil {
		if p.between != nil {
			p.between(p.txs)
		}
		if err := faults.Point("source:between-pieces"); err != nil {
			return err
		}
		if err := c.awaitCheckpoint(); err != nil {
			return err
		}
		if err := c.nextTx(); err != nil {
			return err
		}
	}
	p.buf, p.queue, p.qi = p.buf[:0], p.queue[:0], 0
	if len(p.redo) > 0 {
		return c.readRedo()
	}
	if end := min(c.next+p.size-1, c.pageCount); c.next <= end {
		if err := c.readRange(c.next, end); err != nil {
			return err
		}
	}
	if c.next <= c.pageCount {
		if !p.long {
			c.endPieceTx()
		}
		return nil
	}
	// This transaction's snapshot is the read's: read again what changed.
	for pg := range p.stale {
		if pg <= c.pageCount {
			p.redo = append(p.redo, pg)
		}
	}
	slices.Sort(p.redo)
	p.stale = nil
	return c.readRedo()
}

// pagesQuery reads pages ?1..?2 in order. sqlite_dbpage uses only
// pgno = ?: a join with a counter reads each page by number inside one
// statement.
const pagesQuery = `WITH RECURSIVE s(p) AS (SELECT ? UNION ALL SELECT p+1 FROM s WHERE p < ?)
	SELECT pgno, data FROM s, sqlite_dbpage WHERE pgno = p`

// readRange reads pages from..to into the queue, in order, or fewer when
// the transaction's time is up or the app's checkpointer waits. Batches
// of pieceProbePages pages (fewer when a look is due: lookDue) no frame
// holds are read from the database file directly, the others through
// SQLite.
func (c *sqliteContent) readRange(from, to int64) error {
	p := c.pieced
	c.tr.at("pages")
	want := from
	for want <= to {
		n, err := c.readBatch(want, min(want+pieceProbePages-1, to))
		if err != nil {
			return err
		}
		want += n
		if !p.long {
			if c.checkpointWaits() {
				p.yields++
				break
			}
			if p.inTx != nil {
				p.inTx()
			}
		}
		if p.budget > 0 && !p.long && want-from >= minPiecePages && time.Since(p.began) > p.budget {
			break
		}
	}
	for pg := from; pg < want; pg++ {
		off := int(pg-from) * c.pageSize
		data := p.buf[off : off+c.pageSize : off+c.pageSize]
		c.sumPage(pg, data)
		p.deliver(pg, data)
	}
	c.next = want
	return nil
}

// readSQL appends pages from..to to the piece's buffer through SQLite, or
// fewer when a look at the checkpoint lock is due, and returns how many.
func (c *sqliteContent) readSQL(from, to int64) (int64, error) {
	p := c.pieced
	var rows *sql.Rows
	var err error
	if p.pages != nil {
		rows, err = c.tx.StmtContext(c.ctx, p.pages).QueryContext(c.ctx, from, to)
	} else { // the first transaction, begun before the statements were prepared
		rows, err = c.tx.QueryContext(c.ctx, pagesQuery, from, to)
	}
	if err != nil {
		return 0, fmt.Errorf("read pages of %q: %w", c.rel, err)
	}
	defer rows.Close()
	want := from
	for rows.Next() {
		var pgno int64
		var data sql.RawBytes
		if err := rows.Scan(&pgno, &data); err != nil {
			return 0, fmt.Errorf("read page %d of %q: %w", want, c.rel, err)
		}
		if pgno != want || len(data) != c.pageSize {
			return 0, fmt.Errorf("database %q: got page %d of %d bytes, want page %d of %d bytes; the database may be damaged",
				c.rel, pgno, len(data), want, c.pageSize)
		}
		p.buf = append(p.buf, data...)
		want++
		if p.inPage != nil {
			p.inPage()
		}
		if want <= to && p.lookDue() {
			return want - from, nil // the rows are closed unread
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read pages of %q: %w", c.rel, err)
	}
	if want <= to {
		return 0, fmt.Errorf("database %q: page %d of %d is missing; the database may be damaged", c.rel, want, c.pageCount)
	}
	return want - from, nil
}

// lookDue reports whether the open transaction should look at the
// checkpoint lock before its next page although its batch is not done:
// pieceProbeTime passed since its last look, or since its BEGIN.
func (p *pieces) lookDue() bool {
	return !p.long && time.Since(later(p.began, p.looked)) >= pieceProbeTime
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// deliver queues page pg: in order, or as a replacement when delivered.
func (p *pieces) deliver(pg int64, data []byte) {
	if pg <= p.high {
		p.queue = append(p.queue, Chunk{Data: data, Page: pg})
		return
	}
	p.high = pg
	p.queue = append(p.queue, Chunk{Data: data})
}

// readRedo reads again, in the last transaction, up to a piece of the
// pages that changed after they were read; the transaction ends with the
// last of them.
func (c *sqliteContent) readRedo() error {
	p := c.pieced
	if len(p.redo) > 0 && c.page == nil {
		var err error
		if c.page, err = c.tx.PrepareContext(c.ctx, onePageQuery); err != nil {
			return fmt.Errorf("read pages of %q: %w", c.rel, err)
		}
	}
	c.tr.at("pages read again")
	n := min(int64(len(p.redo)), p.size)
	for _, pg := range p.redo[:n] {
		data, err := c.readPage(pg)
		if err != nil {
			return err
		}
		c.sumPage(pg, data)
		p.deliver(pg, data)
	}
	p.redo = p.redo[n:]
	if len(p.redo) > 0 {
		return nil // the transaction stays open until they were all read
	}
	if p.high > c.pageCount {
		p.queue = append(p.queue, Chunk{Page: c.pageCount + 1, Truncate: true})
		p.high = c.pageCount
	}
	if p.last != nil {
		p.last(c.tx)
	}
	p.done = true
	c.endPieceTx()
	return nil
}

// nextTx begins the next read transaction and works out what changed
// since the previous one's snapshot.
func (c *sqliteContent) nextTx() error {
	p := c.pieced
	// Read before the transaction begins: see newMark.
	shmBefore := shmHeaderOf(c.shm)
	p.began = time.Now()
	if err := c.beginTx(); err != nil {
		return err
	}
	p.txs++
	if p.afterSnapshot != nil {
		p.afterSnapshot(p.txs)
	}
	pages, view, why := p.gap(c.pageSize, c.shm, shmBefore, c.pageCount)
	p.view = view
	c.refreshFramed()
	if why == "" {
		for _, pg := range pages {
			if pg < c.next {
				p.stale[pg] = true
			}
		}
		return nil
	}
	// Unseen frames may have reached the database file: start again.
	p.stale = map[int64]bool{}
	c.next = 1
	if p.starts >= pieceStarts {
		p.long = true
		p.log.Debug("reading the database in one transaction", zap.String("path", c.rel), zap.String("why", why), zap.Int("starts", p.starts))
		return nil
	}
	p.starts++
	p.log.Debug("reading the database again from its first page", zap.String("path", c.rel), zap.String("why", why), zap.Int("start", p.starts))
	return nil
}

// beginTx begins a read transaction on the open connection and reads the
// page count of its snapshot. A writer in the way fails the read as
// changed, so it is tried again.
func (c *sqliteContent) beginTx() error {
	p := c.pieced
	var err error
	// Prepared on the connection while no transaction holds it (the pool
	// has one connection: preparing inside a transaction would wait).
	if p.begin == nil {
		// Reading the schema takes the snapshot (as in openSQLiteOnce).
		p.begin, err = c.db.PrepareContext(c.ctx, `SELECT (SELECT count(*) FROM sqlite_schema),
			(SELECT page_size FROM pragma_page_size()), (SELECT page_count FROM pragma_page_count())`)
	}
	if err == nil && p.pages == nil {
		p.pages, err = c.db.PrepareContext(c.ctx, pagesQuery)
	}
	if err == nil && p.one == nil {
		p.one, err = c.db.PrepareContext(c.ctx, onePageQuery)
	}
	if err == nil {
		c.tx, err = c.db.BeginTx(c.ctx, nil)
	}
	if err == nil {
		c.tr.begin(p.began)
		c.tr.at("gap")
		c.page = c.tx.StmtContext(c.ctx, p.one)
	}
	var n int64
	var pageSize int
	if err == nil {
		err = c.tx.StmtContext(c.ctx, p.begin).QueryRowContext(c.ctx).Scan(&n, &pageSize, &c.pageCount)
	}
	switch {
	case c.ctx.Err() != nil:
		return c.ctx.Err()
	case err != nil && retryLater(err):
		return fmt.Errorf("%q: begin the next read transaction: %w (%w)", c.rel, ErrChanged, err)
	case err != nil:
		return fmt.Errorf("%q: begin the next read transaction: %w", c.rel, err)
	case pageSize != c.pageSize || c.pageCount < 1:
		return fmt.Errorf("%q: the page size changed while the database was read: %w", c.rel, ErrChanged)
	}
	return nil
}

// endPieceTx ends the read transaction but keeps the connection.
func (c *sqliteContent) endPieceTx() {
	if c.page != nil {
		c.page.Close()
		c.page = nil
	}
	if c.tx != nil {
		c.tx.Rollback()
		c.tx = nil
		c.tr.end()
	}
}

// finalMark is the mark of the snapshot the read delivered; planned is
// the one planRead computed for the first transaction. ok is false when
// that mark is unknown (newMark): none is kept, the next read is whole.
func (c *sqliteContent) finalMark(planned walMark) (_ walMark, ok bool) {
	m := planned
	if c.pieced != nil {
		m = c.pieced.view.mark
		m.PageCount, m.DBSettled = c.pageCount, planned.DBSettled
	}
	return m, !m.unknown
}

// checkpointWaits reports whether the app's checkpointer holds the
// checkpoint lock, and the read may still make way for it: a RESTART or
// TRUNCATE checkpoint holds it while it waits for readers like this one,
// and SQLite's busy handler retries only at 1, 3, 8, 18 … ms. Ending the
// transaction then, and beginning none until the lock is free
// (awaitCheckpoint), lets its next retry through.
func (c *sqliteContent) checkpointWaits() bool {
	held := c.shm != nil && c.pieced.waited < ckptYieldTotal && checkpointLockHeld(c.shm)
	c.pieced.looked = time.Now()
	c.tr.look(held)
	return held
}

// awaitCheckpoint waits, with no transaction open, while the checkpoint
// lock is held: at most ckptYieldMax, and ckptYieldTotal over the read.
// A PASSIVE checkpoint holds it too, while it copies frames; waiting for
// it costs the read that time and nothing else.
func (c *sqliteContent) awaitCheckpoint() error {
	p := c.pieced
	if !c.checkpointWaits() {
		return nil
	}
	start := time.Now()
	limit := min(ckptYieldMax, ckptYieldTotal-p.waited)
	tick := time.NewTicker(ckptPoll)
	defer tick.Stop()
	for time.Since(start) < limit && checkpointLockHeld(c.shm) {
		select {
		case <-c.ctx.Done():
			return c.ctx.Err()
		case <-tick.C:
		}
	}
	p.waited += time.Since(start)
	return nil
}
