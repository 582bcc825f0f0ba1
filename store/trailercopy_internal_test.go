package store

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
)

// TestCacheSpooledTrailerCopies: a delta leaving the spool puts exactly its
// sealed trailer into the trailer cache, copied through a small buffer:
// what the copy allocates stays far below the trailer's size (a large
// database's is ~10 MB, at the end of the daemon's cycle). A footer that
// claims the impossible caches nothing.
func TestCacheSpooledTrailerCopies(t *testing.T) {
	state := t.TempDir()
	r := &Store{opts: Options{StateDir: state}}
	trailerBytes := make([]byte, 4<<20)
	for i := range trailerBytes {
		trailerBytes[i] = byte(i * 31)
	}
	body := bytes.Repeat([]byte{0xb0}, 1000)
	obj := append(append(body, trailerBytes...), encodeFooter(len(trailerBytes))...)
	spool := filepath.Join(t.TempDir(), "spooled")
	if err := os.WriteFile(spool, obj, 0o600); err != nil {
		t.Fatal(err)
	}
	d := &delta{ref: deltaRef{ID: [16]byte{1, 2, 3}, Seq: 7}, size: int64(len(obj))}
	f, err := os.Open(spool)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err = r.cacheSpooledTrailer(d, f, d.size)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(r.trailerCachePath(d))
	if err != nil {
		t.Fatalf("the trailer was not cached: %v", err)
	}
	if !bytes.Equal(got, trailerBytes) {
		t.Fatalf("the cache holds %d bytes that are not the %d-byte sealed trailer", len(got), len(trailerBytes))
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 512<<10 {
		t.Errorf("caching a %d-byte trailer allocated %d bytes: it was read whole", len(trailerBytes), alloc)
	}

	// Cached once: a second call leaves the file as it is.
	if err := os.WriteFile(r.trailerCachePath(d), []byte("kept"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.cacheSpooledTrailer(d, f, d.size); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(r.trailerCachePath(d)); string(got) != "kept" {
		t.Fatal("a trailer already cached was written again")
	}

	// A spool file shorter than the size the store has for it caches
	// nothing (its footer is not where the size puts it).
	cut := &delta{ref: deltaRef{ID: [16]byte{6}, Seq: 10}, size: int64(len(obj)) + 100}
	if err := r.cacheSpooledTrailer(cut, f, cut.size); err == nil {
		t.Fatal("a spool file shorter than its size was cached")
	}
	if _, err := os.Stat(r.trailerCachePath(cut)); !os.IsNotExist(err) {
		t.Fatalf("a short spool file left a cached trailer (%v)", err)
	}

	bad := &delta{ref: deltaRef{ID: [16]byte{4}, Seq: 8}, size: int64(len(obj))}
	long := append(bytes.Clone(body), encodeFooter(len(obj))...)
	badPath := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(badPath, long, 0o600); err != nil {
		t.Fatal(err)
	}
	bf, err := os.Open(badPath)
	if err != nil {
		t.Fatal(err)
	}
	defer bf.Close()
	bad.size = int64(len(long))
	if err := r.cacheSpooledTrailer(bad, bf, bad.size); err == nil {
		t.Fatal("a footer claiming more than the object was taken")
	}
	if _, err := os.Stat(r.trailerCachePath(bad)); !os.IsNotExist(err) {
		t.Fatalf("a bad footer left a cached trailer (%v)", err)
	}
	short := &delta{ref: deltaRef{ID: [16]byte{5}, Seq: 9}, size: crypt.Overhead}
	if err := r.cacheSpooledTrailer(short, bf, short.size); err == nil {
		t.Fatal("an object shorter than a footer and a seal was taken")
	}
}
