package source

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// treeKeeper is a TreeVisitor that builds the listing a backup would store
// (path -> content hash), keeping each directory's listing by token so that
// an unchanged directory brings back exactly what it held.
type treeKeeper struct {
	*recorder
	mu      sync.Mutex
	trees   map[string]map[string]string
	cur     map[string]string
	carried []string
}

func newTreeKeeper(t testing.TB, trees map[string]map[string]string) *treeKeeper {
	return &treeKeeper{recorder: newRecorder(t), trees: trees, cur: map[string]string{}}
}

func (k *treeKeeper) File(info FileInfo, c Content) ([]byte, error) {
	tok, err := k.recorder.File(info, c)
	k.mu.Lock()
	k.cur[info.Path] = fmt.Sprintf("%x", tok)
	k.mu.Unlock()
	return tok, err
}

func (k *treeKeeper) Unchanged(info FileInfo, token []byte) error {
	k.mu.Lock()
	k.cur[info.Path] = fmt.Sprintf("%x", token)
	k.mu.Unlock()
	return k.recorder.Unchanged(info, token)
}

func (k *treeKeeper) DirToken(info FileInfo) ([]byte, error) {
	if err := k.recorder.Dir(info); err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	sub := map[string]string{}
	for p, v := range k.cur {
		if rest, ok := strings.CutPrefix(p, info.Path+"/"); ok {
			sub[rest] = v
		}
	}
	keys := slices.Sorted(maps.Keys(sub))
	h := sha256.New()
	for _, p := range keys {
		fmt.Fprintf(h, "%s=%s\n", p, sub[p])
	}
	tok := h.Sum(nil)
	k.trees[string(tok)] = sub
	if info.Path != "" {
		k.cur[info.Path] = "dir"
	}
	return tok, nil
}

func (k *treeKeeper) UnchangedDir(info FileInfo, token []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	sub, ok := k.trees[string(token)]
	if !ok {
		return fmt.Errorf("%s: unknown directory token", info.Path)
	}
	for p, v := range sub {
		k.cur[info.Path+"/"+p] = v
	}
	k.cur[info.Path] = "dir"
	k.carried = append(k.carried, info.Path)
	return nil
}

// TestScopedScan: a scan limited to the paths that changed gives the tree
// a full scan gives, looks at nothing outside them, and keeps the cache
// right for the next scan.
func TestScopedScan(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"a/1", "a/2", "a/3", "b/c/1", "b/c/2", "b/d/1", "x"} {
		writeFile(t, filepath.Join(root, p), []byte("version 1 of "+p))
	}
	cache := emptyCache(t)
	trees := map[string]map[string]string{}
	scanWith := func(scope []string) *treeKeeper {
		t.Helper()
		s := NewScanner(root, Options{Cache: cache, Scope: scope})
		future(s)
		k := newTreeKeeper(t, trees)
		if err := s.Scan(context.Background(), k); err != nil {
			t.Fatal(err)
		}
		return k
	}
	full := func() map[string]string {
		t.Helper()
		s := NewScanner(root, Options{})
		k := newTreeKeeper(t, map[string]map[string]string{})
		if err := s.Scan(context.Background(), k); err != nil {
			t.Fatal(err)
		}
		return k.cur
	}
	same := func(name string, k *treeKeeper) {
		t.Helper()
		if want := full(); !maps.Equal(k.cur, want) {
			t.Fatalf("%s: scoped scan gives\n%v\nfull scan gives\n%v", name, k.cur, want)
		}
	}
	scanWith(nil)

	// One file changed in b/c: a and b/d are taken whole, x as unchanged.
	writeFile(t, filepath.Join(root, "b/c/1"), []byte("version 2, longer"))
	k := scanWith([]string{"b/c/1"})
	same("one file", k)
	if got := k.eventsWith("file:"); !slices.Equal(got, []string{"b/c/1"}) {
		t.Errorf("read %v, want only b/c/1", got)
	}
	if !slices.Equal(k.carried, []string{"a", "b/d"}) {
		t.Errorf("carried %v, want a and b/d", k.carried)
	}
	if got := k.eventsWith("unchanged:"); !slices.Equal(got, []string{"b/c/2", "x"}) {
		t.Errorf("unchanged %v, want b/c/2 (listed with b/c/1) and x", got)
	}

	// A new file, a deleted file and a deleted directory.
	writeFile(t, filepath.Join(root, "a/4"), []byte("new"))
	if err := os.Remove(filepath.Join(root, "a/2")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(root, "b/d")); err != nil {
		t.Fatal(err)
	}
	same("create and delete", scanWith([]string{"a/2", "a/4", "b/d"}))
	for p := range cache.entries {
		if strings.HasPrefix(p, "b/d") || p == "a/2" {
			t.Errorf("cache still holds %s", p)
		}
	}
	// The directory came back with other content: the cache must not
	// bring back what it held before.
	writeFile(t, filepath.Join(root, "b/d/2"), []byte("other"))
	same("directory back", scanWith([]string{"b/d"}))

	// A file whose stat the cache does not trust is looked at even when
	// nothing reported it.
	writeFile(t, filepath.Join(root, "a/3"), []byte("version 2 of a/3"))
	s := NewScanner(root, Options{Cache: cache, Scope: []string{"a/3"}}) // not future: a/3 is racy
	if err := s.Scan(context.Background(), newTreeKeeper(t, trees)); err != nil {
		t.Fatal(err)
	}
	if !cache.entries["a/3"].Reread {
		t.Fatal("test premise: a/3 should be racy")
	}
	writeFile(t, filepath.Join(root, "a/3"), []byte("version 3 of a/3"))
	k = scanWith([]string{"x"})
	same("racy file", k)
	if got := k.eventsWith("file:"); !slices.Equal(got, []string{"a/3"}) {
		t.Errorf("read %v, want a/3 (its cache entry was not trusted)", got)
	}
}
