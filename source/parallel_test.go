package source

import (
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// With Parallel > 1 the scan visits exactly what a sequential scan
// visits, with the same content, never a SQLite companion, and every
// directory after all of its children.
func TestParallelScan(t *testing.T) {
	root := t.TempDir()
	for i := 0; i < 60; i++ {
		dir := []string{"", "a", "a/b", "c"}[i%4]
		writeFile(t, filepath.Join(root, filepath.FromSlash(dir), fmt.Sprintf("f%02d.bin", i)), bytes.Repeat([]byte{byte(i)}, 1000+i*5000))
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(root, "a", "msg.db")+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE t(x); INSERT INTO t VALUES('hello')"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "a", "msg.db-wal")); err != nil {
		t.Fatalf("the test needs a live -wal: %v", err)
	}

	seq := newRecorder(t)
	if err := NewScanner(root, Options{}).Scan(t.Context(), seq); err != nil {
		t.Fatal(err)
	}
	cache, _ := LoadFileCache(filepath.Join(t.TempDir(), "cache"))
	par := newRecorder(t)
	parallel := NewScanner(root, Options{Parallel: 4, Cache: cache})
	// Files written just now are "racy" (re-read next time); a clock an hour
	// ahead makes the cache trust them, as it would for older files.
	parallel.now = func() time.Time { return time.Now().Add(time.Hour) }
	if err := parallel.Scan(t.Context(), par); err != nil {
		t.Fatal(err)
	}
	want, got := sortedKeys(seq.contents), sortedKeys(par.contents)
	if strings.Join(want, ",") != strings.Join(got, ",") {
		t.Fatalf("parallel scan visited %v, sequential %v", got, want)
	}
	for _, p := range got {
		if strings.HasSuffix(p, "-wal") || strings.HasSuffix(p, "-shm") {
			t.Fatalf("a SQLite companion was visited: %s", p)
		}
		if !bytes.Equal(par.contents[p], seq.contents[p]) {
			t.Fatalf("%s: different content in the parallel scan", p)
		}
	}
	if par.infos["a/msg.db"].Kind != KindSQLite {
		t.Fatalf("msg.db read as %v", par.infos["a/msg.db"].Kind)
	}
	// Every directory comes after each of its files (File is recorded when
	// it starts; the directory waits for them all to finish).
	seen := map[string]bool{}
	for _, e := range par.events {
		if d, ok := strings.CutPrefix(e, "dir:"); ok {
			for p := range par.contents {
				if strings.HasPrefix(p, d) && !seen[p] {
					t.Fatalf("directory %q visited before its file %s", d, p)
				}
			}
		}
		if f, ok := strings.CutPrefix(e, "file:"); ok {
			seen[f] = true
		}
	}
	if err := cache.Save(); err != nil {
		t.Fatal(err)
	}
	// The cache a parallel scan wrote serves the next one.
	again := newRecorder(t)
	if err := parallel.Scan(t.Context(), again); err != nil {
		t.Fatal(err)
	}
	if again.files != 0 || len(again.eventsWith("unchanged:")) != len(got) {
		t.Fatalf("second parallel scan read %d files, %d unchanged of %d", again.files, len(again.eventsWith("unchanged:")), len(got))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
