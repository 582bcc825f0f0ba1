package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseTreeSize(t *testing.T) {
	for in, want := range map[string]int64{"10g": 10 << 30, "10G": 10 << 30, "1.5g": 3 << 29, "500m": 500 << 20} {
		if got, err := parseTreeSize(in); err != nil || got != want {
			t.Errorf("parseTreeSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "g", "-1g", "10k", "1m", "2000g", "ten"} {
		if got, err := parseTreeSize(in); err == nil {
			t.Errorf("parseTreeSize(%q) = %d, want an error", in, got)
		}
	}
}

// A tree's database is a tenth of it and its media the rest, so a 10g
// tree is about 10 GiB.
func TestTreeSpecSize(t *testing.T) {
	s := treeSpec("10g", 10<<30)
	db := int64(s.Messages) * bytesPerMessage
	if total := db + s.MediaBytes; total < 10<<30-1<<20 || total > 10<<30 {
		t.Errorf("a 10g tree holds %d bytes", total)
	}
	if !s.Bulk || !strings.HasPrefix(s.Name, treePrefix) {
		t.Errorf("tree spec %+v: want a bulk-built database and the tree prefix", s)
	}
	if need := treeDiskNeed(10<<30, 1); need < 20<<30 {
		t.Errorf("a 10g tree with one tool needs %d bytes free, less than the tree and its repository", need)
	}
}

// The restores of a tree are checked against the source's hashes, taken
// before its media was deleted: a changed or missing file fails.
func TestCompareHashes(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	for _, d := range []string{src, dst} {
		if err := os.MkdirAll(filepath.Join(d, "media"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "media", "a.jpg"), []byte("picture"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := hashTree(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(src, "media")); err != nil {
		t.Fatal(err)
	}
	if err := compareHashes(want, dst); err != nil {
		t.Fatalf("an identical restore: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dst, "media", "a.jpg"), []byte("pictur3"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := compareHashes(want, dst); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Fatalf("a changed file: %v", err)
	}
	if err := os.Remove(filepath.Join(dst, "media", "a.jpg")); err != nil {
		t.Fatal(err)
	}
	if err := compareHashes(want, dst); err == nil || !strings.Contains(err.Error(), "lacks") {
		t.Fatalf("a missing file: %v", err)
	}
}
