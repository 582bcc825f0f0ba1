package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// A backup's timing ends when its repository is on disk: a tool that
// returns with its files still dirty in the page cache (kopia, rclone)
// pays for their write-back as one that fsyncs them (chatsafe, restic,
// borg) already did inside its run.
func TestMakeDurableWritesTheRepositoryBack(t *testing.T) {
	repo := t.TempDir()
	var fs unix.Statfs_t
	if err := unix.Statfs(repo, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type == unix.TMPFS_MAGIC {
		t.Skip("the temporary directory is on tmpfs, whose pages are never written back")
	}
	files := []string{filepath.Join(repo, "config"), filepath.Join(repo, "data", "00", "pack")}
	for i, f := range files {
		if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, make([]byte, (i+1)<<22), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if n := dirtyPages(t, files[1]); n == 0 {
		t.Skipf("a file just written has no dirty page on this filesystem (type %#x)", fs.Type)
	}
	if _, err := makeDurable(repo); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if n := dirtyPages(t, f); n != 0 {
			t.Errorf("%s: %d pages still dirty or under writeback", f, n)
		}
	}
}

func TestMakeDurableNamesWhatItCannotOpen(t *testing.T) {
	_, err := makeDurable(filepath.Join(t.TempDir(), "missing"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v, want a not-exist error", err)
	}
}
