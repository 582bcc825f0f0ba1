//go:build linux

package source

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRule3CheckTime times rule 3's check of the pages carried, the time it
// holds the read transaction, with the database file out of the page cache
// and in it, and with it read ahead first (warmCarried, or the hint
// posix_fadvise WILLNEED gives), in rounds that alternate the four. Out of
// the default run: CHATSAFE_CHECKTIME=1 go test -run TestRule3CheckTime -v ./source/
func TestRule3CheckTime(t *testing.T) {
	if os.Getenv("CHATSAFE_CHECKTIME") == "" {
		t.Skip("set CHATSAFE_CHECKTIME=1 to time rule 3's check")
	}
	t.Run("a generation of SQLite's default checkpoint", func(t *testing.T) {
		a := newChatApp(t)
		a.passive()
		a.msgs(1)
		a.scan("first backup")
		for {
			a.msgs(10)
			a.scan("messages")
			if fi, err := os.Stat(a.dbPath + "-wal"); err != nil {
				t.Fatal(err)
			} else if fi.Size() >= 32+1000*(24+4096) {
				break
			}
		}
		m := a.lastMark()
		a.passive()
		a.msgs(1) // restarts the log
		fi, err := os.Stat(a.dbPath)
		if err != nil {
			t.Fatal(err)
		}
		timeCheck(t, a.dbPath, &m, 4096, fi.Size()/4096)
	})
	for _, c := range []struct {
		pageSize int
		pages    int64
		kept     int
		name     string
	}{{4096, 40000, 4096, "4096 of 4 KiB, the cap"}, {65536, 4096, 4096, "4096 of 64 KiB, the cap before"}, {65536, 4096, 256, "256 of 64 KiB, the cap"}} {
		t.Run(c.name, func(t *testing.T) {
			path, m := checkTimeFile(t, c.pageSize, c.pages, c.kept)
			timeCheck(t, path, m, c.pageSize, c.pages)
		})
	}
}

// timeCheck logs three rounds of the check: cold, cold after warmCarried,
// cold after the WILLNEED hint, warm.
func timeCheck(t *testing.T, path string, m *walMark, pageSize int, pageCount int64) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	t.Logf("%d pages of %d bytes kept, in %d", len(m.Sums)/sumSize, pageSize, pageCount)
	base := &cacheEntry{Kind: KindSQLite, Mark: m}
	for range 3 {
		for _, how := range []string{"cold", "read ahead", "WILLNEED", "warm"} {
			if how != "warm" {
				if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
					t.Fatal(err)
				}
			}
			start := time.Now()
			switch how {
			case "read ahead":
				if warmCarried(context.Background(), path, base) == 0 {
					t.Fatal("nothing read ahead")
				}
			case "WILLNEED":
				for k := 0; k+sumSize <= len(m.Sums); k += sumSize {
					pg := int64(binary.BigEndian.Uint32(m.Sums[k:]))
					if err := unix.Fadvise(int(f.Fd()), (pg-1)*int64(pageSize), int64(pageSize), unix.FADV_WILLNEED); err != nil {
						t.Fatal(err)
					}
				}
			}
			ahead := time.Since(start)
			start = time.Now()
			why, n := carriedWhy(m, func() io.ReaderAt { return f }, nil, pageSize, pageCount)
			d := time.Since(start)
			if why != "" || n != len(m.Sums)/sumSize {
				t.Fatalf("%d pages checked: %s", n, why)
			}
			t.Logf("%-10s: check %7.2f ms (ahead of it %7.2f ms)", how, ms(d), ms(ahead))
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// checkTimeFile writes a database file of random pages, a mark keeping the
// hashes of kept of them, at random, and a -wal header one restart after
// the mark's.
func checkTimeFile(t *testing.T, pageSize int, pages int64, kept int) (string, *walMark) {
	path := filepath.Join(t.TempDir(), "db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for off := int64(0); off < pages*int64(pageSize); off += int64(len(buf)) {
		if _, err := rand.Read(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for len(seen) < kept {
		r, err := rand.Int(rand.Reader, big.NewInt(pages))
		if err != nil {
			t.Fatal(err)
		}
		seen[r.Int64()+1] = true
	}
	m := &walMark{SumsKept: true}
	be := binary.BigEndian
	be.PutUint32(m.Hdr[0:], 0x377f0682)
	be.PutUint32(m.Hdr[4:], walVersion)
	be.PutUint32(m.Hdr[8:], uint32(pageSize))
	be.PutUint32(m.Hdr[16:], 7)
	page := make([]byte, pageSize)
	for _, pg := range slices.Sorted(func(yield func(int64) bool) {
		for pg := range seen {
			if !yield(pg) {
				return
			}
		}
	}) {
		if _, err := f.ReadAt(page, (pg-1)*int64(pageSize)); err != nil {
			t.Fatal(err)
		}
		m.Sums = be.AppendUint32(m.Sums, uint32(pg))
		m.Sums = be.AppendUint64(m.Sums, pageSum(page))
	}
	hdr := m.Hdr
	be.PutUint32(hdr[16:], 8)
	if err := os.WriteFile(path+"-wal", hdr[:], 0o600); err != nil {
		t.Fatal(err)
	}
	return path, m
}
