package source

import (
	"database/sql"
	"fmt"
	"time"
)

// DictSampler is implemented by the content of a database read whole: a
// consumer that compresses pages with a dictionary can ask, before the
// first Next, for pages spread over the file to make it of (a database's
// first pages are its schema and small tables, unlike the bulk of it).
type DictSampler interface {
	// DictSample returns up to n pages spread evenly over the database,
	// leaf pages of tables and indexes where one is near, or nil (a read
	// of changed pages only, a database of under 2n pages, a read that
	// failed: the error is Next's to report). Called before Next.
	DictSample(n int) [][]byte
}

// sampleProbe bounds the pages read at one spot of the sample to find a
// leaf page.
const sampleProbe = 4

func (c *sqliteContent) DictSample(n int) [][]byte {
	if c.incremental || c.err != nil || c.took || n <= 0 || c.pageCount < 2*int64(n) {
		return nil
	}
	c.tr.at("dictionary sample")
	defer c.tr.at("visitor")
	var pages [][]byte
	var err error
	switch {
	case c.tx != nil: // one transaction for the whole read
		pages, err = c.readSample(n, func(pgno int64) ([]byte, error) {
			var data []byte
			err := c.tx.QueryRowContext(c.ctx, "SELECT data FROM sqlite_dbpage WHERE pgno = ?", pgno).Scan(&data)
			return data, err
		})
	case c.pieced != nil:
		pages, err = c.samplePieced(n)
	}
	if err != nil {
		return nil
	}
	return pages
}

// samplePieced reads the sample of a read in pieces, whose first
// transaction has ended, in transactions of its own that make way for the
// app's checkpointer and last at most a piece's time, as the read's do.
// A sample is only what a dictionary is made of: it need not be one
// snapshot, nor the read's.
func (c *sqliteContent) samplePieced(n int) ([][]byte, error) {
	p := c.pieced
	st, err := c.db.PrepareContext(c.ctx, "SELECT data FROM sqlite_dbpage WHERE pgno = ?")
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var tx *sql.Tx
	var began time.Time
	end := func() {
		if tx != nil {
			tx.Rollback()
			tx = nil
			c.tr.end()
		}
	}
	defer end()
	return c.readSample(n, func(pgno int64) ([]byte, error) {
		if tx != nil && (c.checkpointWaits() || (p.budget > 0 && time.Since(began) > p.budget)) {
			end()
		}
		if tx == nil {
			if err := c.awaitCheckpoint(); err != nil {
				return nil, err
			}
			began = time.Now()
			if tx, err = c.db.BeginTx(c.ctx, nil); err != nil {
				return nil, err
			}
			c.tr.begin(began)
		}
		var data []byte
		err := tx.StmtContext(c.ctx, st).QueryRowContext(c.ctx, pgno).Scan(&data)
		if p.inSample != nil {
			p.inSample()
		}
		return data, err
	})
}

// readSample reads the sample with page, which reads one page.
func (c *sqliteContent) readSample(n int, page func(pgno int64) ([]byte, error)) ([][]byte, error) {
	pages := make([][]byte, 0, n)
	for k := range int64(n) {
		at := 1 + k*c.pageCount/int64(n)
		var pick []byte
		for pgno := at; pgno < at+sampleProbe && pgno <= c.pageCount; pgno++ {
			data, err := page(pgno)
			if err != nil {
				return nil, err
			}
			if len(data) != c.pageSize {
				return nil, fmt.Errorf("page %d has %d bytes", pgno, len(data))
			}
			if pick == nil || isLeafPage(pgno, data) {
				pick = data
			}
			if isLeafPage(pgno, data) {
				break
			}
		}
		pages = append(pages, pick)
	}
	return pages, nil
}

// isLeafPage reports whether page pgno is a b-tree leaf (of a table or an
// index): rows and keys, what the rest of the database looks like. Page 1
// starts with the database header.
func isLeafPage(pgno int64, data []byte) bool {
	off := 0
	if pgno == 1 {
		off = 100
	}
	return len(data) > off && (data[off] == 0x0d || data[off] == 0x0a)
}
