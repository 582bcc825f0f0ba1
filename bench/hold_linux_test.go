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
	cached, total, err := cachedBytes(in)
	if errors.Is(err, unix.ENOSYS) {
		t.Skip("cachestat(2) is not in this kernel")
	}
	if err != nil {
		t.Fatal(err)
	}
	if cached == total {
		t.Skip("the input stays in the page cache after eviction here; the test cannot tell a read apart")
	}
	release, err := holdInCache(in)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if cached, _, err = cachedBytes(in); err != nil || cached != total {
		t.Fatalf("%d of %d bytes in the page cache after holdInCache (%v)", cached, total, err)
	}
	for _, f := range files {
		if err := evictFromPageCache(f); err != nil {
			t.Fatal(err)
		}
	}
	if cached, _, err = cachedBytes(in); err != nil || cached != 1<<20 {
		t.Errorf("%d bytes in the page cache after an eviction, want the one held file's %d (%v)", cached, 1<<20, err)
	}
}
