package source

import (
	"fmt"
	"slices"
	"time"
)

// The changed pages of an incremental read in short transactions, as a
// whole read's pieces (sqlite_pieces.go): a transaction reads changed
// pages until its time is up, a piece's worth was read or the app's
// checkpointer waits (looked at every pieceProbePages pages or
// pieceProbeTime), and ends; the next one works out, with the same
// reasoning, which pages may have changed between the two snapshots. Those
// are read (again) in a later transaction, also when they were not among
// the changed pages (a page carried over from the previous version that
// changed meanwhile), so the pages read are the last transaction's
// snapshot wherever it differs from the previous version. Nothing is
// delivered before the last transaction ended. When the gap cannot be
// known, the read fails as changed and is repeated whole.

// readChangedPieces reads the changed pages (and those that change
// meanwhile) by number; the last transaction is open on return, and its
// snapshot is the read's.
func (c *sqliteContent) readChangedPieces() (map[int64][]byte, error) {
	p := c.pieced
	got := make(map[int64][]byte, len(c.changed))
	todo := slices.Clone(c.changed)
	for {
		c.tr.at("changed pages")
		unlooked := 0 // pages read since the last look
		for read := 1; len(todo) > 0; read++ {
			pg := todo[0]
			todo = todo[1:]
			if pg > c.pageCount { // past this snapshot's end
				continue
			}
			data, err := c.readPage(pg)
			if err != nil {
				return nil, err
			}
			got[pg] = data
			unlooked++
			if p.long || len(todo) == 0 || (unlooked < pieceProbePages && !p.lookDue()) {
				continue
			}
			unlooked = 0
			if c.checkpointWaits() {
				p.yields++
				break
			}
			if p.inTx != nil {
				p.inTx()
			}
			if int64(read) >= p.size || (p.budget > 0 && read >= minPiecePages && time.Since(p.began) > p.budget) {
				break
			}
		}
		if len(todo) == 0 {
			return got, nil
		}
		c.endPieceTx()
		var err error
		if todo, err = c.nextChangedTx(got, todo); err != nil {
			return nil, err
		}
	}
}

// nextChangedTx begins the next transaction of readChangedPieces and
// returns the pages still to read: todo and those that may have changed
// since the previous transaction's snapshot (read ones are read again).
func (c *sqliteContent) nextChangedTx(got map[int64][]byte, todo []int64) ([]int64, error) {
	p := c.pieced
	if p.between != nil {
		p.between(p.txs)
	}
	if err := c.awaitCheckpoint(); err != nil {
		return nil, err
	}
	shmBefore := shmHeaderOf(c.shm) // read before the transaction begins: see newMark
	p.began = time.Now()
	if err := c.beginTx(); err != nil {
		return nil, err
	}
	p.txs++
	if p.afterSnapshot != nil {
		p.afterSnapshot(p.txs)
	}
	pages, view, why := p.gap(c.pageSize, c.shm, shmBefore, c.pageCount)
	p.view = view
	if why != "" {
		return nil, fmt.Errorf("%q: %s during an incremental read: %w", c.rel, why, ErrChanged)
	}
	for _, pg := range pages {
		delete(got, pg)
		todo = append(todo, pg)
	}
	slices.Sort(todo)
	return slices.Compact(todo), nil
}
