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

	"golang.org/x/sys/unix"
)

// BenchmarkRule3Check times rule 3's check of the pages carried, the time
// it holds the read transaction (ns/op), with the database file out of the
// page cache, read ahead first by warmCarried (outside the timing, as it
// runs before the transaction opens), or in the cache:
// go test -run '^$' -bench Rule3Check -benchtime 5x ./source/
func BenchmarkRule3Check(b *testing.B) {
	for _, c := range []struct {
		pageSize int
		pages    int64
		kept     int
		name     string
	}{
		{4096, 40000, 256, "256 of 4 KiB, a generation of SQLite's default checkpoint"},
		{4096, 40000, 4096, "4096 of 4 KiB, the cap"},
		{65536, 4096, 256, "256 of 64 KiB, the cap"},
	} {
		path, m := checkTimeFile(b, c.pageSize, c.pages, c.kept)
		for _, how := range []string{"cold", "read ahead", "warm"} {
			b.Run(c.name+"/"+how, func(b *testing.B) { benchCheck(b, how, path, m, c.pageSize, c.pages) })
		}
	}
}

// benchCheck times carriedWhy over the file at path, prepared as how says
// before each check.
func benchCheck(b *testing.B, how, path string, m *walMark, pageSize int, pageCount int64) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	base := &cacheEntry{Kind: KindSQLite, Mark: m}
	for b.Loop() {
		b.StopTimer()
		if how != "warm" {
			if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
				b.Fatal(err)
			}
		}
		if how == "read ahead" && warmCarried(context.Background(), path, base) == 0 {
			b.Fatal("nothing read ahead")
		}
		b.StartTimer()
		why, n := carriedWhy(m, func() io.ReaderAt { return f }, nil, pageSize, pageCount)
		if why != "" || n != len(m.Sums)/sumSize {
			b.Fatalf("%d pages checked: %s", n, why)
		}
	}
}

// checkTimeFile writes a database file of random pages, a mark keeping the
// hashes of kept of them, at random, and a -wal header one restart after
// the mark's.
func checkTimeFile(t testing.TB, pageSize int, pages int64, kept int) (string, *walMark) {
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
