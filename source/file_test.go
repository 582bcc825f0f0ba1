package source

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// seededBytes is n bytes of a random stream fixed by seed: a test whose
// outcome depends on where content-defined cuts fall gets the same cuts
// every run.
func seededBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	mrand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

func chunkHashes(data []byte, sizes []int) map[[32]byte]bool {
	set := map[[32]byte]bool{}
	off := 0
	for _, n := range sizes {
		set[sha256.Sum256(data[off:off+n])] = true
		off += n
	}
	return set
}

// TestCDCChunksAndDedup: chunks concatenate to the file, respect the size
// bounds, and an insertion in the middle changes only a few of them. The
// data is fixed: with fresh random bytes every run, the insertion could
// fall where the cuts took more chunks to come back in line (5 new chunks
// in one CI run, 2026-12-05; none in 200 runs by hand).
func TestCDCChunksAndDedup(t *testing.T) {
	root := t.TempDir()
	orig := seededBytes(5<<20, 1)
	writeFile(t, filepath.Join(root, "big.bin"), orig)
	writeFile(t, filepath.Join(root, "small.txt"), []byte("tiny"))
	writeFile(t, filepath.Join(root, "empty"), nil)

	s := NewScanner(root, Options{})
	r := scan(t, s)
	if !bytes.Equal(r.contents["big.bin"], orig) {
		t.Fatal("concatenated chunks differ from the file")
	}
	sizes := r.chunks["big.bin"]
	for i, n := range sizes {
		if n > cdcOther.max || (n < cdcOther.min && i != len(sizes)-1) {
			t.Fatalf("chunk %d has %d bytes, outside [%d, %d]", i, n, cdcOther.min, cdcOther.max)
		}
	}
	if avg := len(orig) / len(sizes); avg < 32<<10 || avg > 128<<10 {
		t.Fatalf("average chunk %d bytes over %d chunks, want about 64 KiB", avg, len(sizes))
	}
	if got := r.chunks["small.txt"]; len(got) != 1 || string(r.contents["small.txt"]) != "tiny" {
		t.Fatalf("small file chunks %v, want one", got)
	}
	if got := r.chunks["empty"]; len(got) != 0 || r.infos["empty"].Size != 0 {
		t.Fatalf("empty file chunks %v", got)
	}

	edited := append(append(append([]byte(nil), orig[:len(orig)/2]...), []byte("an insertion of a few bytes")...), orig[len(orig)/2:]...)
	writeFile(t, filepath.Join(root, "big.bin"), edited)
	r2 := scan(t, s)
	if !bytes.Equal(r2.contents["big.bin"], edited) {
		t.Fatal("edited file: concatenated chunks differ")
	}
	old := chunkHashes(orig, sizes)
	fresh := 0
	for h := range chunkHashes(edited, r2.chunks["big.bin"]) {
		if !old[h] {
			fresh++
		}
	}
	if fresh > 3 {
		t.Fatalf("%d new chunks after a small insertion (of %d); dedup is not working", fresh, len(r2.chunks["big.bin"]))
	}
}

func TestIncompressibleHint(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "photo.JPG"), []byte("whatever"))
	writeFile(t, filepath.Join(root, "noext"), append([]byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'}, make([]byte, 64)...))
	writeFile(t, filepath.Join(root, "archive"), append([]byte{0x1f, 0x8b, 8, 0}, make([]byte, 64)...))
	writeFile(t, filepath.Join(root, "notes.txt"), []byte(strings.Repeat("hello chat ", 100)))
	r := scan(t, NewScanner(root, Options{}))
	want := map[string]bool{"photo.JPG": true, "noext": true, "archive": true, "notes.txt": false}
	for p, w := range want {
		if r.incomp[p] != w {
			t.Errorf("%s: Incompressible = %v, want %v", p, r.incomp[p], w)
		}
	}
}

// TestChangedDuringReadIsRetried: a file modified after its last byte was
// read (injected right before the re-check) is read again, and the consumer
// only ever completes a read of the final, whole content.
func TestChangedDuringReadIsRetried(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "log.txt")
	writeFile(t, p, []byte("version 0"))
	s := NewScanner(root, Options{})
	changes := 0
	s.beforeVerify = func(rel string) {
		if rel == "log.txt" && changes < 2 {
			changes++
			writeFile(t, p, []byte("version "+strings.Repeat("x", changes)))
		}
	}
	r := newRecorder(t)
	var consumerErrs []error
	r.onFile = func(info FileInfo, c Content) ([]byte, error) {
		data, _, err := readAll(c)
		if err != nil {
			consumerErrs = append(consumerErrs, err)
			return nil, err
		}
		r.contents[info.Path] = data
		return []byte("tok"), nil
	}
	if err := s.Scan(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if r.files != 3 || len(consumerErrs) != 2 {
		t.Fatalf("File called %d times with %d failed reads, want 3 and 2", r.files, len(consumerErrs))
	}
	for _, err := range consumerErrs {
		if !errors.Is(err, ErrChanged) {
			t.Fatalf("failed read: %v, want ErrChanged", err)
		}
	}
	if got := string(r.contents["log.txt"]); got != "version xx" {
		t.Fatalf("delivered %q, want the final content", got)
	}
	if len(r.warns) != 0 {
		t.Fatalf("unexpected warnings %v", r.warns)
	}
}

// TestAlwaysChangingFileIsLeftForNextCycle: after the retries the previous
// version is kept if there is one, and nothing torn is ever stored.
func TestAlwaysChangingFileIsLeftForNextCycle(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "hot.bin")
	writeFile(t, p, []byte("stable"))
	cache := emptyCache(t)
	s := NewScanner(root, Options{Cache: cache})
	r := scan(t, s)
	oldToken := r.tokens["hot.bin"]

	n := 0
	s.beforeVerify = func(string) {
		n++
		writeFile(t, p, bytes.Repeat([]byte{'z'}, n))
	}
	r = scan(t, s)
	if r.files != changedRetries+1 {
		t.Fatalf("File called %d times, want %d", r.files, changedRetries+1)
	}
	if len(r.warns["hot.bin"]) != 1 || !errors.Is(r.warns["hot.bin"][0], ErrChanged) {
		t.Fatalf("warnings %v, want one wrapping ErrChanged", r.warns)
	}
	if got := r.eventsWith("unchanged:"); len(got) != 1 || !bytes.Equal(r.tokens["hot.bin"], oldToken) {
		t.Fatalf("unchanged calls %v with token %x, want the previous token %x", got, r.tokens["hot.bin"], oldToken)
	}
	if info := r.infos["hot.bin"]; info.Size != int64(len("stable")) {
		t.Fatalf("info %+v should describe the kept version", info)
	}
	if _, stored := r.contents["hot.bin"]; stored {
		t.Fatal("a torn read was stored")
	}

	// Without a previous version the file is skipped altogether.
	s2 := NewScanner(root, Options{})
	s2.beforeVerify = s.beforeVerify
	r = scan(t, s2)
	if _, seen := r.infos["hot.bin"]; seen || len(r.warns["hot.bin"]) != 1 {
		t.Fatalf("events %v: want the file skipped with one warning", r.events)
	}
	// The next cycle, once it settles, reads it normally.
	s.beforeVerify = nil
	r = scan(t, s)
	if r.files != 1 || len(r.warns) != 0 {
		t.Fatalf("events %v: want one clean read", r.events)
	}
}

func TestVanishedAndGrownFiles(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "a")
	writeFile(t, p, []byte("data"))
	s := NewScanner(root, Options{})
	s.beforeVerify = func(string) { os.Remove(p) }
	r := scan(t, s)
	if r.files != 1 || len(r.warns["a"]) != 1 || !strings.Contains(r.warns["a"][0].Error(), "vanished") {
		t.Fatalf("events %v warns %v: want one read, then a vanished warning", r.events, r.warns)
	}
}

// TestChunkSizesByClass: a file that is already compressed (by its name,
// or by its header whatever its name) is cut every 2 MiB from its start,
// the last chunk shorter; any other by content into small chunks within
// their bounds. The chunks of both add up to the file.
func TestChunkSizesByClass(t *testing.T) {
	const fixed = 2 << 20
	root := t.TempDir()
	data := randomBytes(t, 9<<20+1234)
	jpeg := append([]byte{0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F', 0}, data[11:]...)
	files := map[string]struct {
		content []byte
		media   bool
	}{
		"clip.mp4":     {data, true},
		"photo.bin":    {jpeg, true}, // a JPEG header under another name
		"notes.bin":    {data, false},
		"small.opus":   {data[:100<<10], true},
		"exact.mkv":    {data[:2*fixed], true},
		"archive.json": {data[:3<<20], false},
	}
	for name, f := range files {
		writeFile(t, filepath.Join(root, name), f.content)
	}
	r := scan(t, NewScanner(root, Options{Parallel: 2}))
	for name, f := range files {
		if !bytes.Equal(r.contents[name], f.content) {
			t.Fatalf("%s: concatenated chunks differ from the file", name)
		}
		sizes := r.chunks[name]
		if f.media {
			want := len(f.content)/fixed + min(1, len(f.content)%fixed)
			if len(sizes) != want {
				t.Fatalf("%s: %d chunks %v, want %d", name, len(sizes), sizes, want)
			}
			for i, n := range sizes[:len(sizes)-1] {
				if n != fixed {
					t.Fatalf("%s: chunk %d has %d bytes, want %d", name, i, n, fixed)
				}
			}
			continue
		}
		for i, n := range sizes {
			if n > cdcOther.max || (n < cdcOther.min && i != len(sizes)-1) {
				t.Fatalf("%s: chunk %d has %d bytes, outside [%d, %d]", name, i, n, cdcOther.min, cdcOther.max)
			}
		}
		if len(f.content) < 2*cdcOther.max {
			continue
		}
		// FastCDC's chunks average a little above its normal size.
		if avg := len(f.content) / len(sizes); avg < cdcOther.avg || avg > 2*cdcOther.avg {
			t.Fatalf("%s: average chunk %d bytes over %d chunks, want %d to %d", name, avg, len(sizes), cdcOther.avg, 2*cdcOther.avg)
		}
	}
}
