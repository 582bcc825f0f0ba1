package main

import (
	"os"
	"path/filepath"
	"testing"
)

// The warm-up writes what it was asked for and leaves nothing behind.
func TestWarmMemoryLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	if err := warmMemory(dir, 3<<20); err != nil {
		t.Fatal(err)
	}
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("the warm-up left %d files in %s", len(left), dir)
	}
	if err := warmMemory(filepath.Join(dir, "missing"), 1<<20); err == nil {
		t.Fatal("a warm-up in a missing directory reported no error")
	}
}
