package source

import (
	"context"
	"encoding/binary"
	"os"
)

// warmCarried reads the pages rule 3's check would read from the database
// file at abs, before the read transaction opens, so that the check inside
// it finds them in the page cache: the app's RESTART and TRUNCATE
// checkpoints wait for that transaction, and with the file out of the
// cache the check took 12-14 ms for a generation of SQLite's default
// checkpoint size, up to 203 ms for 4096 pages (docs/sqlite.md). It runs
// only when the previous version's mark keeps hashes and the -wal header
// is the one after the mark's (the log restarted once: restartedOnce),
// reads every page the mark keeps a hash of, and checks nothing: the check
// inside the transaction stays the authority. It returns the pages read.
//
// Plain reads rather than posix_fadvise(WILLNEED): they work on every
// platform, and when they return the pages are in the cache, where the
// hint only starts reading them.
func warmCarried(ctx context.Context, abs string, base *cacheEntry) int {
	if base == nil || base.Kind != KindSQLite || base.Mark == nil || !base.Mark.SumsKept || len(base.Mark.Sums) == 0 {
		return 0
	}
	m := base.Mark
	var hdr [walHdrSize]byte
	if !readHead(abs+"-wal", hdr[:]) || !restartedOnce(m.Hdr, hdr) {
		return 0
	}
	pageSize := int(binary.BigEndian.Uint32(m.Hdr[8:]))
	if pageSize < 512 || pageSize > 65536 || pageSize&(pageSize-1) != 0 {
		return 0
	}
	pgs := make([]int64, 0, len(m.Sums)/sumSize)
	for pg := range keptSums(m.Sums) {
		pgs = append(pgs, pg)
	}
	f, err := os.Open(abs)
	if err != nil {
		return 0
	}
	defer f.Close()
	buf := make([]byte, min(len(pgs), checkRun)*pageSize)
	n := 0
	for i, j := range pageRuns(pgs) {
		if ctx.Err() != nil {
			break
		}
		if _, err := f.ReadAt(buf[:(j-i)*pageSize], (pgs[i]-1)*int64(pageSize)); err != nil {
			break
		}
		n += j - i
	}
	return n
}

// readHead reads the first len(b) bytes of the file at path.
func readHead(path string, b []byte) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = f.ReadAt(b, 0)
	return err == nil
}
