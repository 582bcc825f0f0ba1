package store_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
)

// A hostile remote controls every byte and every size it reports. These
// tests play that remote with a local-path remote whose files the test
// edits behind the client's back.

// plantDelta creates an object under deltas/ with the given name, made
// sparse up to size, whose last bytes are tail.
func plantDelta(t *testing.T, e *storetest.Env, base string, size int64, tail []byte) string {
	t.Helper()
	p := filepath.Join(e.RemoteDir, "deltas", base)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(tail, size-int64(len(tail))); err != nil {
		t.Fatal(err)
	}
	return p
}

// fakeFooter is a delta footer claiming a sealed trailer of n bytes.
func fakeFooter(n uint32) []byte {
	return append(binary.LittleEndian.AppendUint32(nil, n), "CSDELTA1"...)
}

// allocatedDuring reports the bytes the Go heap allocated while fn ran.
func allocatedDuring(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestHostileHugeTrailerLength: a 4 GiB delta (sparse on the remote's
// disk) whose footer claims a trailer of nearly all of it must be refused
// as an integrity failure before the client reads or allocates it.
func TestHostileHugeTrailerLength(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("hello"))
	e.Backup()
	const size = 4 << 30
	p := plantDelta(t, e, "0000000000000002-00112233445566778899aabbccddeeff", size, fakeFooter(size-12))
	var err error
	alloc := allocatedDuring(func() { _, err = e.OpenFresh(e.Key) })
	wantIntegrity(t, err, rel(t, e, p))
	t.Logf("opening allocated %d bytes: %v", alloc, err)
	if alloc > 256<<20 {
		t.Fatalf("opening a repository with a hostile 4 GiB delta allocated %d MiB before authenticating anything", alloc>>20)
	}

	// A claim right at the cap is read, and still costs bounded memory.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	p = plantDelta(t, e, "0000000000000002-00112233445566778899aabbccddeeff", 128<<20, fakeFooter(64<<20))
	alloc = allocatedDuring(func() { _, err = e.OpenFresh(e.Key) })
	wantIntegrity(t, err, rel(t, e, p))
	t.Logf("a trailer claimed at the cap: opening allocated %d bytes", alloc)
	if alloc > 256<<20 {
		t.Fatalf("a trailer claimed at the cap made opening allocate %d MiB", alloc>>20)
	}
}

// TestHostileListedSizes: a delta listed far larger than chatsafe writes,
// and a config object padded past its limit, are integrity failures.
func TestHostileListedSizes(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("hello"))
	e.Backup()
	p := plantDelta(t, e, "0000000000000002-00112233445566778899aabbccddeeff", 32<<30, fakeFooter(100))
	_, err := e.OpenFresh(e.Key)
	wantIntegrity(t, err, rel(t, e, p))
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}

	cfg := filepath.Join(e.RemoteDir, "config")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, append(b, make([]byte, 8<<10)...), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = e.OpenFresh(e.Key)
	wantIntegrity(t, err, "config")
}
