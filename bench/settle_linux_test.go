package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// dirtyPages counts path's pages that are dirty or under writeback in the
// page cache (cachestat(2), Linux 6.5 and later).
func dirtyPages(t *testing.T, path string) uint64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Cachestat_t
	err = unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{}, &st, 0)
	if errors.Is(err, unix.ENOSYS) {
		t.Skip("cachestat(2) is not in this kernel")
	}
	if err != nil {
		t.Fatal(err)
	}
	return st.Dirty + st.Writeback
}

func TestSettleWritesDirtyPagesBack(t *testing.T) {
	dir := t.TempDir()
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type == unix.TMPFS_MAGIC {
		t.Skip("the temporary directory is on tmpfs, whose pages are never written back")
	}
	path := filepath.Join(dir, "written")
	if err := os.WriteFile(path, make([]byte, 8<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if n := dirtyPages(t, path); n == 0 {
		// Not settle's failure: some filesystems (9p, virtiofs, NFS)
		// never show dirty pages in the page cache.
		t.Skipf("a file just written has no dirty page on this filesystem (type %#x); the test cannot tell a write-back apart", fs.Type)
	}
	b := &benchRun{}
	b.settle("test", "phase", false, "")()
	if n := dirtyPages(t, path); n != 0 {
		t.Errorf("%d pages still dirty or under writeback after settle", n)
	}
}

// A phase starts with its input in the page cache, whatever evicted it
// before (this VM's DAMON pageout scheme dropped the whole corpus between
// two tools' backups: kopia's, second in line, read 1336 MB from disk),
// and keeps it there until the phase ends.
func TestSettleKeepsTheInputInThePageCache(t *testing.T) {
	in := filepath.Join(t.TempDir(), "input")
	files := []string{filepath.Join(in, "a"), filepath.Join(in, "sub", "b")}
	for i, f := range files {
		if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, make([]byte, (i+1)<<22), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := evictFromPageCache(f); err != nil {
			t.Fatal(err)
		}
	}
	cached, total, err := cachedBytes(in, nil)
	if errors.Is(err, unix.ENOSYS) {
		t.Skip("cachestat(2) is not in this kernel")
	}
	if err != nil {
		t.Fatal(err)
	}
	if total != 12<<20 {
		t.Fatalf("the input has %d bytes, want %d", total, 12<<20)
	}
	if cached == total {
		// tmpfs, for one, keeps every page whatever fadvise says.
		t.Skip("the input stays in the page cache after eviction here; the test cannot tell a read apart")
	}
	b := &benchRun{}
	release := b.settle("test", "phase", false, in)
	if cached, _, err = cachedBytes(in, nil); err != nil {
		t.Fatal(err)
	}
	if cached != total {
		t.Errorf("%d of the input's %d bytes in the page cache after settle", cached, total)
	}
	// Until the phase ends, the input stays where settle put it: what
	// drops unmapped page-cache pages (here fadvise, on the VM the DAMON
	// scheme, which took 200 MB of a repository between settle and
	// chatsafe's restore) leaves it alone.
	evictAll := func() int64 {
		t.Helper()
		for _, f := range files {
			if err := evictFromPageCache(f); err != nil {
				t.Fatal(err)
			}
		}
		cached, _, err := cachedBytes(in, nil)
		if err != nil {
			t.Fatal(err)
		}
		return cached
	}
	if cached := evictAll(); cached != total {
		t.Errorf("%d of the input's %d bytes in the page cache after an eviction during the phase", cached, total)
	}
	release()
	if cached := evictAll(); cached == total {
		t.Errorf("the input is still held in the page cache after the phase")
	}
	// A tool without local state passes a directory that is not there.
	if err := readIntoCache(nil, filepath.Join(in, "missing"), ""); err != nil {
		t.Errorf("reading a missing input: %v", err)
	}
}
