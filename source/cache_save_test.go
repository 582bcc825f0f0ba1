package source

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
)

// Save streams the cache to its file: what it allocates is bounded by its
// largest entry (a database's token), not by the whole cache. Encoding
// the whole map at once held the encoder's buffer and a copy of it, each
// grown by doubling: ~4× the cache, ~60 MB at the end of a 10 GB tree's
// backup, when its live heap is largest (docs/benchmarks.md, "Peak RSS,
// third round").
func TestFileCacheSaveStreams(t *testing.T) {
	path := t.TempDir() + "/filecache"
	db := bytes.Repeat([]byte("database-token-"), 600_000) // 9 MB: a 1 GB database's
	entries := map[string]cacheEntry{"msgstore.db": {Kind: KindSQLite, Token: db}}
	for i := range 20_000 { // 10 MB of media files' tokens
		entries[fmt.Sprintf("media/%05d.jpg", i)] = cacheEntry{Kind: KindFile, Size: int64(i), Token: bytes.Repeat([]byte{byte(i)}, 500)}
	}
	c := &FileCache{path: path, entries: entries}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if got, most := after.TotalAlloc-before.TotalAlloc, uint64(3*len(db)); got > most {
		t.Fatalf("Save allocated %.1f MB for a cache of %.1f MB whose largest entry is %.1f MB; want at most %.1f MB",
			float64(got)/1e6, float64(len(db)+20_000*520)/1e6, float64(len(db))/1e6, float64(most)/1e6)
	}
	back, err := LoadFileCache(path)
	if err != nil || back.loadWarning != nil {
		t.Fatalf("the cache does not load back: %v, %v", err, back.loadWarning)
	}
	if len(back.entries) != len(entries) {
		t.Fatalf("%d entries loaded, %d saved", len(back.entries), len(entries))
	}
	for p, e := range entries {
		if b := back.entries[p]; b.Kind != e.Kind || b.Size != e.Size || !bytes.Equal(b.Token, e.Token) {
			t.Fatalf("entry %s loads back as %+v", p, b)
		}
	}
}
