package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Past maxHeldFiles, files are read into the page cache but not held: an
// eviction drops them, and only the held ones stay.
func TestHoldInCacheReadsWhatItDoesNotMap(t *testing.T) {
	defer func(n int) { maxHeldFiles = n }(maxHeldFiles)
	maxHeldFiles = 1
	in := t.TempDir()
	var files []string
	for _, name := range []string{"a", "b", "c"} {
		f := filepath.Join(in, name)
		if err := os.WriteFile(f, make([]byte, 1<<20), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := evictFromPageCache(f); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if err := os.WriteFile(filepath.Join(in, "empty"), nil, 0o600); err != nil {
		t.Fatal(err) // an empty file cannot be mapped, and need not be
	}
	cached, total, err := cachedBytes(in, nil)
	if errors.Is(err, unix.ENOSYS) {
		t.Skip("cachestat(2) is not in this kernel")
	}
	if err != nil {
		t.Fatal(err)
	}
	if cached == total {
		t.Skip("the input stays in the page cache after eviction here; the test cannot tell a read apart")
	}
	release, err := holdInCache(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if cached, _, err = cachedBytes(in, nil); err != nil || cached != total {
		t.Fatalf("%d of %d bytes in the page cache after holdInCache (%v)", cached, total, err)
	}
	for _, f := range files {
		if err := evictFromPageCache(f); err != nil {
			t.Fatal(err)
		}
	}
	if cached, _, err = cachedBytes(in, nil); err != nil || cached != 1<<20 {
		t.Errorf("%d bytes in the page cache after an eviction, want the one held file's %d (%v)", cached, 1<<20, err)
	}
}

// The bench is the app: it holds the database open through SQLite, whose
// locks are POSIX record locks, and closing any descriptor of a file drops
// all of the process's locks on it. settle's reads and the phase logs must
// not open the app's database files in this process (2026-12-02: the
// app's TRUNCATE checkpoints then failed with SQLITE_IOERR_IN_PAGE, and
// the daemon's cycles read 1.8 MB each instead of 0.16 MB).
func TestSettleKeepsTheAppsLocks(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "databases", "msgstore.db")
	if err := os.MkdirAll(filepath.Dir(db), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{db, db + "-wal", db + "-shm"} {
		if err := os.WriteFile(f, make([]byte, 1<<20), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	app, err := os.OpenFile(db, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: 0, Start: 1 << 30, Len: 1} // as SQLite's shared lock
	if err := unix.FcntlFlock(app.Fd(), unix.F_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	live := appFiles(db)
	release, err := holdInCache(live, dir)
	if err != nil {
		t.Fatal(err)
	}
	release()
	if _, _, err := cachedBytes(dir, live); err != nil {
		t.Fatal(err)
	}
	// An open-file-description lock conflicts with this process's own
	// record lock while that is held.
	probe, err := os.OpenFile(db, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	w := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 1 << 30, Len: 1}
	if err := unix.FcntlFlock(probe.Fd(), unix.F_OFD_GETLK, &w); err != nil {
		t.Fatal(err)
	}
	if w.Type == unix.F_UNLCK {
		t.Fatal("the app's lock on its database is gone after settle's reads")
	}
}
