package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// A retired directory keeps its files' inodes, not their bytes, until the
// purge.
func TestRetireEmptiesAndMoves(t *testing.T) {
	work := t.TempDir()
	dir := filepath.Join(work, "restore-x-r2")
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join(dir, "a"), filepath.Join(dir, "sub", "b")}
	for _, f := range files {
		// Read-only, as restic's packs are (root empties them without the
		// chmod).
		if err := os.WriteFile(f, make([]byte, 1<<16), 0o400); err != nil {
			t.Fatal(err)
		}
	}
	r := newRetirer(work)
	if err := r.retire(dir); err != nil {
		t.Fatal(err)
	}
	if err := r.retire(filepath.Join(work, "missing")); err != nil {
		t.Fatalf("retiring what is not there: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s is still there (%v)", dir, err)
	}
	moved := filepath.Join(work, "retired", "1-restore-x-r2")
	for _, rel := range []string{"a", filepath.Join("sub", "b")} {
		fi, err := os.Stat(filepath.Join(moved, rel))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != 0 {
			t.Errorf("%s: %d bytes left, want 0", rel, fi.Size())
		}
	}
	if err := r.purge(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(work, "retired")); !os.IsNotExist(err) {
		t.Fatalf("purge left %s (%v)", filepath.Join(work, "retired"), err)
	}
}

// Only roundDir's names for later rounds are an earlier run's rounds.
func TestLaterRounds(t *testing.T) {
	work := t.TempDir()
	for _, d := range []string{"restic", "restic-r2", "restic-r10", "restic-repo", "restic-rx"} {
		if err := os.Mkdir(filepath.Join(work, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	got := laterRounds(work, "restic")
	want := []string{filepath.Join(work, "restic-r10"), filepath.Join(work, "restic-r2")}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("laterRounds = %v, want %v", got, want)
	}
}
