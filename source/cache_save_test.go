package source

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"os"
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

// olderFile is a cache file as an older version wrote it: v2, the whole
// map as one gob value; v3, the count and then each record with its token
// inside it.
func olderFile(t *testing.T, magic string, entries map[string]cacheEntry) []byte {
	t.Helper()
	var payload bytes.Buffer
	enc := gob.NewEncoder(&payload)
	if magic == cacheMagicV2 {
		if err := enc.Encode(entries); err != nil {
			t.Fatal(err)
		}
		return cacheFile(magic, payload.Bytes())
	}
	if err := enc.Encode(uint64(len(entries))); err != nil {
		t.Fatal(err)
	}
	for p, e := range entries {
		if err := enc.Encode(cacheRecord{Path: p, Entry: e}); err != nil {
			t.Fatal(err)
		}
	}
	return cacheFile(magic, payload.Bytes())
}

// A cache saved by an older version (v2, v3) still loads: an upgrade does
// not make the next backup read every file again.
func TestFileCacheOlderVersionsLoad(t *testing.T) {
	for _, magic := range []string{cacheMagicV2, cacheMagicV3} {
		path := t.TempDir() + "/filecache"
		entries := map[string]cacheEntry{"msgstore.db": {Kind: KindSQLite, Token: []byte("token"), Mark: &walMark{Frame: 7}}, "a.jpg": {Kind: KindFile, Size: 3}}
		if err := os.WriteFile(path, olderFile(t, magic, entries), 0o600); err != nil {
			t.Fatal(err)
		}
		back, err := LoadFileCache(path)
		if err != nil || back.loadWarning != nil || len(back.entries) != 2 {
			t.Fatalf("%q: the cache does not load: %v, %v, %d entries", magic, err, back.loadWarning, len(back.entries))
		}
		if e := back.entries["msgstore.db"]; string(e.Token) != "token" || e.Mark == nil || e.Mark.Frame != 7 {
			t.Fatalf("%q: an entry loads as %+v", magic, e)
		}
	}
}

// A payload whose count claims more entries than it has bytes is damage,
// read as an empty cache with a warning (no allocation by count).
func TestFileCacheCountBeyondPayload(t *testing.T) {
	path := t.TempDir() + "/filecache"
	var payload bytes.Buffer
	if err := gob.NewEncoder(&payload).Encode(uint64(1) << 40); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, cacheFile(cacheMagic, payload.Bytes()), 0o600); err != nil {
		t.Fatal(err)
	}
	back, err := LoadFileCache(path)
	if err != nil || back.loadWarning == nil || len(back.entries) != 0 {
		t.Fatalf("a count beyond the payload was not refused: %v, %v, %d entries", err, back.loadWarning, len(back.entries))
	}
}

// Save writes a database's token to the file as it is, not through the
// encoder, which copied it whole into its buffer: ~10 MB for a 1 GB
// database, allocated at the end of every daemon cycle that changed it,
// when the cycle's own buffers are still live (docs/benchmarks.md, "The
// daemon's peak RSS on a 10 GB tree").
func TestFileCacheSaveWritesTokensThrough(t *testing.T) {
	path := t.TempDir() + "/filecache"
	db := bytes.Repeat([]byte("database-token-"), 600_000)
	c := &FileCache{path: path, entries: map[string]cacheEntry{
		"msgstore.db": {Kind: KindSQLite, Token: db, Mark: &walMark{Frame: 9}},
		"a.jpg":       {Kind: KindFile, Size: 3, Token: []byte("small")},
		"empty":       {Kind: KindFile},
	}}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if got, most := after.TotalAlloc-before.TotalAlloc, uint64(len(db)/8); got > most {
		t.Fatalf("Save allocated %.1f MB for a %.1f MB token; want at most %.1f MB", float64(got)/1e6, float64(len(db))/1e6, float64(most)/1e6)
	}
	back, err := LoadFileCache(path)
	if err != nil || back.loadWarning != nil || len(back.entries) != 3 {
		t.Fatalf("the cache does not load back: %v, %v, %d entries", err, back.loadWarning, len(back.entries))
	}
	if e := back.entries["msgstore.db"]; !bytes.Equal(e.Token, db) || e.Mark == nil || e.Mark.Frame != 9 {
		t.Fatal("the database's entry does not load back as saved")
	}
	if e := back.entries["a.jpg"]; string(e.Token) != "small" || e.Size != 3 {
		t.Fatalf("a file's entry loads back as %+v", e)
	}
	if e := back.entries["empty"]; e.Token != nil {
		t.Fatalf("an entry without a token loads back with %q", e.Token)
	}
}

// cacheFile wraps a payload in a cache file's header and sum.
func cacheFile(magic string, payload []byte) []byte {
	sum := sha256.Sum256(payload)
	out := append([]byte(magic), binary.LittleEndian.AppendUint64(nil, uint64(len(payload)))...)
	return append(append(out, payload...), sum[:]...)
}

// A v4 record whose token length goes beyond the payload is damage, read
// as an empty cache with a warning, and allocates nothing by that length.
func TestFileCacheTokenBeyondPayload(t *testing.T) {
	path := t.TempDir() + "/filecache"
	var payload bytes.Buffer
	enc := gob.NewEncoder(&payload)
	if err := enc.Encode(uint64(1)); err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(cacheRecord{Path: "msgstore.db", Entry: cacheEntry{Kind: KindSQLite}, TokenLen: 1 << 40}); err != nil {
		t.Fatal(err)
	}
	payload.WriteString("a few bytes of token")
	if err := os.WriteFile(path, cacheFile(cacheMagic, payload.Bytes()), 0o600); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	back, err := LoadFileCache(path)
	runtime.ReadMemStats(&after)
	if err != nil || back.loadWarning == nil || len(back.entries) != 0 {
		t.Fatalf("a token beyond the payload was not refused: %v, %v, %d entries", err, back.loadWarning, len(back.entries))
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Fatalf("loading it allocated %d bytes", got)
	}
}
