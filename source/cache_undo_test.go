package source

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// TestCacheRollback: scans between Mark and Rollback, scoped (which change
// the cache's map in place) and complete, adding, changing and deleting
// files, leave the cache exactly as it was at Mark, its sorted paths
// included; between Mark and Keep their entries stay; an Invalidate in a
// marked cycle is not undone.
func TestCacheRollback(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"a/1", "a/2", "b/1", "c"} {
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
	scanWith(nil)
	scanWith([]string{"a/1"}) // the sorted paths are known
	before := maps.Clone(cache.entries)
	same := func(step string) {
		t.Helper()
		if !reflect.DeepEqual(cache.entries, before) {
			t.Fatalf("%s: cache holds %v, want %v", step, slices.Sorted(maps.Keys(cache.entries)), slices.Sorted(maps.Keys(before)))
		}
		if want := slices.Sorted(maps.Keys(before)); !slices.Equal(cache.sortedKeys(), want) {
			t.Fatalf("%s: sorted paths %v, want %v", step, cache.sortedKeys(), want)
		}
	}
	change := func() {
		t.Helper()
		writeFile(t, filepath.Join(root, "a/1"), []byte("version 2 of a/1, longer"))
		writeFile(t, filepath.Join(root, "a/new"), []byte("a new file"))
		if err := os.Remove(filepath.Join(root, "a/2")); err != nil {
			t.Fatal(err)
		}
	}
	change()
	cache.Mark()
	scanWith([]string{"a/1", "a/new", "a/2"})
	if _, ok := cache.entries["a/new"]; !ok {
		t.Fatal("the scoped scan did not add a/new")
	}
	scanWith([]string{"b/1"})
	cache.Rollback()
	same("scoped scans rolled back")

	cache.Mark()
	scanWith(nil)
	scanWith([]string{"a/1"})
	cache.Rollback()
	same("a complete and a scoped scan rolled back")

	cache.Mark()
	scanWith([]string{"a/1", "a/new", "a/2"})
	cache.Keep()
	cache.Rollback() // nothing marked: nothing to undo
	if _, ok := cache.entries["a/new"]; !ok {
		t.Fatal("a kept cycle's entries were undone")
	}
	if _, ok := cache.entries["a/2"]; ok {
		t.Fatal("a kept cycle's deletion was undone")
	}

	cache.Mark()
	cache.Invalidate()
	scanWith(nil)
	cache.Rollback()
	if len(cache.entries) != 0 {
		t.Fatalf("rolled back past an Invalidate: %d entries", len(cache.entries))
	}
}
