package source

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestScopedCacheKeys: after scoped scans that add and delete files and
// directories (names that sort around '/' included), the cache holds the
// paths a full scan gives, its sorted paths stay right, and a scan that
// keeps nothing from the cache agrees.
func TestScopedCacheKeys(t *testing.T) {
	root := t.TempDir()
	files := []string{"a/1", "a/b/1", "a/b/c/1", "a-b/1", "a.b", "a0/1", "b/1", "b/d/e/1", "x"}
	for _, p := range files {
		writeFile(t, filepath.Join(root, p), []byte("version 1 of "+p))
	}
	cache := emptyCache(t)
	trees := map[string]map[string]string{}
	scanWith := func(scope []string) {
		t.Helper()
		s := NewScanner(root, Options{Cache: cache, Scope: scope})
		future(s)
		if err := s.Scan(context.Background(), newTreeKeeper(t, trees)); err != nil {
			t.Fatal(err)
		}
	}
	check := func(step string) {
		t.Helper()
		full := emptyCache(t)
		s := NewScanner(root, Options{Cache: full})
		future(s)
		if err := s.Scan(context.Background(), newTreeKeeper(t, map[string]map[string]string{})); err != nil {
			t.Fatal(err)
		}
		got := slices.Sorted(maps.Keys(cache.entries))
		want := slices.Sorted(maps.Keys(full.entries))
		if !slices.Equal(got, want) {
			t.Fatalf("%s: cache holds\n%v\na full scan gives\n%v", step, got, want)
		}
		if cache.keysOK && !slices.Equal(cache.keys, want) {
			t.Fatalf("%s: sorted paths\n%v\nwant\n%v", step, cache.keys, want)
		}
	}
	scanWith(nil)
	check("full")
	scanWith([]string{"a/b/c/1"})
	check("unchanged")

	// A deleted directory beside names that sort just before and after it.
	if err := os.RemoveAll(filepath.Join(root, "a/b")); err != nil {
		t.Fatal(err)
	}
	scanWith([]string{"a/b"})
	check("directory deleted")

	// New files deep down, a new directory, a deleted file at the root.
	writeFile(t, filepath.Join(root, "b/d/e/f/2"), []byte("new"))
	writeFile(t, filepath.Join(root, "n/1"), []byte("new"))
	if err := os.Remove(filepath.Join(root, "x")); err != nil {
		t.Fatal(err)
	}
	scanWith([]string{"b/d/e/f/2", "n/1", "x"})
	check("added and deleted")

	// A whole top-level directory gone, seen as the root is listed for
	// another path.
	if err := os.RemoveAll(filepath.Join(root, "b")); err != nil {
		t.Fatal(err)
	}
	scanWith([]string{"a.b"})
	check("directory deleted, not in the scope")
	scanWith([]string{""})
	check("root rescanned")
}

// TestCacheRereads: the paths a scoped scan looks at again are the entries
// marked Reread, kept up to date across scans and a reload.
func TestCacheRereads(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "d/old"), []byte("old"))
	writeFile(t, filepath.Join(root, "d/new"), []byte("new"))
	cache := emptyCache(t)
	// Read now: every file was written within the racy window.
	scan(t, NewScanner(root, Options{Cache: cache}))
	if got := slices.Sorted(slices.Values(cache.rereads)); !slices.Equal(got, []string{"d/new", "d/old"}) {
		t.Fatalf("rereads %v, want both files", got)
	}
	if err := cache.Save(); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadFileCache(cache.path)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(slices.Values(loaded.rereads)); !slices.Equal(got, []string{"d/new", "d/old"}) {
		t.Fatalf("rereads %v after a reload, want both files", got)
	}
	s := NewScanner(root, Options{Cache: loaded, Scope: []string{"elsewhere"}})
	future(s)
	r := scan(t, s)
	if got := r.eventsWith("file:"); !slices.Equal(got, []string{"d/new", "d/old"}) {
		t.Fatalf("a scoped scan read %v, want both files again", got)
	}
	if len(loaded.rereads) != 0 {
		t.Fatalf("rereads %v after a scoped scan looked at them again", loaded.rereads)
	}
}
