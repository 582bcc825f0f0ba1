package source

import "fmt"

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
	if c.incremental || c.tx == nil || c.err != nil || c.next != 1 || n <= 0 || c.pageCount < 2*int64(n) {
		return nil
	}
	c.tr.at("dictionary sample")
	pages, err := c.readSample(n)
	c.tr.at("visitor")
	if err != nil {
		return nil
	}
	return pages
}

// readSample reads the sample in the read transaction (the snapshot
// every page of this read comes from).
func (c *sqliteContent) readSample(n int) ([][]byte, error) {
	st, err := c.tx.PrepareContext(c.ctx, "SELECT data FROM sqlite_dbpage WHERE pgno = ?")
	if err != nil {
		return nil, err
	}
	defer st.Close()
	pages := make([][]byte, 0, n)
	for k := range int64(n) {
		at := 1 + k*c.pageCount/int64(n)
		var pick []byte
		for pgno := at; pgno < at+sampleProbe && pgno <= c.pageCount; pgno++ {
			var data []byte
			if err := st.QueryRowContext(c.ctx, pgno).Scan(&data); err != nil {
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
