package source

import (
	"encoding/binary"
	"fmt"
	"io"
	"iter"
	"maps"
	"os"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Rule 3 (sqlite_wal.go) carries every page it does not read from the last
// snapshot, on the premise that the checkpoint before the restart copied
// the previous generation into the database file. A recovery that kept the
// log's header (a damaged header, the wal-index lost) drops that
// generation's frames, and the app's next frames, written from slot 1 under
// the same header, checkpointed and followed by a restart, leave a -wal that
// looks the same: the database file then lacks the frames the last read saw
// and holds the ones written since (TestSQLiteRule3AfterRecoveryWithoutItsFrames).
// So a mark keeps a hash of the pages the reads of its generation read, as
// the snapshot holds them, and a rule-3 read reads those it will not read
// anyway from the database file and compares.

// defaultMaxSums bounds the pages a mark keeps hashes of (sumSize bytes
// each in the cache entry, 48 KiB at most), and maxSumBytes their bytes
// (256 pages of 64 KiB): with more, it keeps none and rule 3 is not taken
// on it. The bytes bound the check's time inside the transaction: in the
// page cache, 4096 pages of 4 KiB took 5 ms, of 64 KiB 65 ms, 256 of 64 KiB
// 5 ms (docs/sqlite.md).
const (
	defaultMaxSums = 4096
	maxSumBytes    = 16 << 20
)

// sumsMax is the most pages a mark of a database of pageSize keeps hashes of.
func (s *Scanner) sumsMax(pageSize int) int {
	return max(1, min(s.maxSums, maxSumBytes/pageSize))
}

// sumSize is one kept page: its number (uint32) and its hash (uint64),
// big-endian, sorted by page number.
const sumSize = 12

// checkRun is the most pages one read of the database file takes.
const checkRun = 16

// pageSum is the hash kept of a page: XXH64 with seed 0, a published
// function, its version pinned by go.mod, already linked through other
// modules, and in assembly on amd64 and arm64 (hash/crc64 is table-driven
// Go). Not maphash: its seed is random per process, and a mark outlives
// the process.
func pageSum(data []byte) uint64 { return xxhash.Sum64(data) }

// pageSums are the hashes of pages a read delivered: each the hash of the
// page's last delivered content, or none.
type pageSums struct {
	m    map[int64]uint64
	max  int  // pages kept at most
	over bool // more than max: none is kept
}

func (s *pageSums) put(pg int64, data []byte) {
	if s.over {
		return
	}
	if s.m == nil {
		s.m = map[int64]uint64{}
	}
	s.m[pg] = pageSum(data)
	if len(s.m) > s.max {
		s.over, s.m = true, nil
	}
}

func (s *pageSums) forget(pg int64) { delete(s.m, pg) }

// sumPage keeps the hash of page pg as a whole read in pieces delivers it,
// when the log holds a frame of it: markSums keeps those.
func (c *sqliteContent) sumPage(pg int64, data []byte) {
	if f := &c.pieced.framed; f.ok && f.pages[pg] && len(f.pages) <= c.sums.max {
		c.sums.put(pg, data)
	} else {
		c.sums.forget(pg)
	}
}

// markSums returns the hashes the mark m of the read's snapshot keeps, and
// whether it keeps them: for each page the reads since m's generation began
// read, the hash of its version in the snapshot. They cover the pages of
// frames 1..m.Frame, which rule 3 must check; any page more is right too
// (carried, it must still be the snapshot's version) and costs a read of
// the database file there. base is the previous snapshot's mark when this
// read continued its generation (rule 1); nil starts the set over.
func (c *sqliteContent) markSums(m walMark, base *walMark) ([]byte, bool) {
	if c.sums.over {
		return nil, false
	}
	sums := map[int64]uint64{}
	switch {
	case !c.incremental:
		// A whole read: the pages of every frame of its last transaction's
		// generation.
		if c.pieced == nil {
			return nil, false
		}
		f := &c.pieced.framed
		if !f.ok || f.hdr != m.Hdr {
			return nil, false
		}
		for pg := range f.pages {
			if pg > c.pageCount {
				continue
			}
			s, ok := c.sums.m[pg]
			if !ok {
				return nil, false
			}
			sums[pg] = s
		}
	case base != nil:
		if !base.SumsKept || base.Hdr != m.Hdr {
			return nil, false
		}
		maps.Insert(sums, keptSums(base.Sums))
		maps.Copy(sums, c.sums.m)
	default:
		maps.Copy(sums, c.sums.m)
	}
	maps.DeleteFunc(sums, func(pg int64, _ uint64) bool { return pg > c.pageCount })
	if len(sums) > c.sums.max {
		return nil, false
	}
	out := make([]byte, 0, len(sums)*sumSize)
	for _, pg := range slices.Sorted(maps.Keys(sums)) {
		out = binary.BigEndian.AppendUint32(out, uint32(pg))
		out = binary.BigEndian.AppendUint64(out, sums[pg])
	}
	return out, true
}

// checkCarried returns p, the plan of a rule-3 read, with the pages
// carriedWhy read, or a whole read when one is not as the previous
// snapshot (p.carried) held it.
func checkCarried(p readPlan, db func() io.ReaderAt, pageSize int, pageCount int64) readPlan {
	why, n := carriedWhy(p.carried, db, p.changed, pageSize, pageCount)
	if why != "" {
		return readPlan{why: why}
	}
	p.checked = n
	return p
}

// carriedWhy checks, for a rule-3 read, the pages the previous snapshot's
// mark m keeps hashes of that the read will not read (not in read, sorted;
// at most pageCount): each is read from the database file, db's, and must
// hash as the previous snapshot held it ("": all do). n counts the pages
// read.
//
// It runs inside the transaction whose snapshot the read is, after the
// read took the pages of every frame of the log's generation (read): a
// page not in read has no frame in the snapshot, and while the
// transaction is open the app's checkpoints copy only frames up to its
// mark, whose pages are in read (and none while it reads the database
// file alone), so the file holds the snapshot's version of the page. A
// page that does not match is one the read would have carried wrongly,
// never one a checkpoint changed meanwhile; outside the transaction, a
// checkpoint of later frames could make a page differ (a whole read for
// nothing) or, written back to the last snapshot's version, match.
func carriedWhy(m *walMark, db func() io.ReaderAt, read []int64, pageSize int, pageCount int64) (why string, n int) {
	if !m.SumsKept {
		return "the last read kept no hashes of the pages it took from the -wal file (too many, or a cache from before they were kept)", 0
	}
	var todo []int64
	var want []uint64
	for pg, sum := range keptSums(m.Sums) {
		if _, found := slices.BinarySearch(read, pg); pg <= pageCount && !found {
			todo = append(todo, pg)
			want = append(want, sum)
		}
	}
	if len(todo) == 0 {
		return "", 0
	}
	f := db()
	if f == nil {
		return "the database file cannot be read beside SQLite to check the pages carried over", 0
	}
	buf := make([]byte, min(len(todo), checkRun)*pageSize)
	for i, j := range pageRuns(todo) {
		b := buf[:(j-i)*pageSize]
		if _, err := f.ReadAt(b, (todo[i]-1)*int64(pageSize)); err != nil {
			return fmt.Sprintf("reading page %d of the database file to check the pages carried over: %v", todo[i], err), n
		}
		n += j - i
		for k := i; k < j; k++ {
			if pageSum(b[(k-i)*pageSize:][:pageSize]) != want[k] {
				return fmt.Sprintf("page %d of the database file is not the version the last read took from the -wal file: the log restarted over frames that never reached it (SQLite recovered the log without them?)", todo[k]), n
			}
		}
	}
	return "", n
}

// keptSums yields the pages and hashes of a mark's Sums (sumSize bytes
// each, in page order).
func keptSums(b []byte) iter.Seq2[int64, uint64] {
	return func(yield func(int64, uint64) bool) {
		for k := 0; k+sumSize <= len(b); k += sumSize {
			if !yield(int64(binary.BigEndian.Uint32(b[k:])), binary.BigEndian.Uint64(b[k+4:])) {
				return
			}
		}
	}
}

// pageRuns yields the runs of consecutive pages in pgs (sorted), at most
// checkRun long, each as the indexes [i, j) of its pages in pgs.
func pageRuns(pgs []int64) iter.Seq2[int, int] {
	return func(yield func(int, int) bool) {
		for i := 0; i < len(pgs); {
			j := i + 1
			for j < len(pgs) && j-i < checkRun && pgs[j] == pgs[j-1]+1 {
				j++
			}
			if !yield(i, j) {
				return
			}
			i = j
		}
	}
}

// openDB opens the database file for reads beside SQLite's (direct reads,
// rule 3's check), once. The descriptor is closed only after the
// connection: closing it would drop the locks SQLite holds on the file.
func (c *sqliteContent) openDB(abs string) *os.File {
	if c.dbf == nil {
		c.dbf, _ = os.Open(abs)
	}
	return c.dbf
}

// checkFile is the database file for rule 3's check, if it is the file
// the read began on (file; same inode on the same device where the
// platform has inodes), else nil.
func (c *sqliteContent) checkFile(abs string, file statID) io.ReaderAt {
	f := c.openDB(abs)
	if f == nil {
		return nil
	}
	if file.Ino != 0 {
		if fi, err := f.Stat(); err != nil || idOf(fi).Ino != file.Ino || idOf(fi).Dev != file.Dev {
			return nil
		}
	}
	return f
}
