package remotes

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// A whole local file put into a local-path remote is linked, not copied,
// and reads back the same.
func TestPutLinksLocalFile(t *testing.T) {
	dir := t.TempDir()
	r, err := Open(t.Context(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data, f := putSpooled(t, r, dir, "")
	rc, err := r.Get(t.Context(), "deltas/x", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("linked object reads back different bytes")
	}
	// A reader that is not at its start is copied normally (and the size
	// check refuses the short upload).
	f.Seek(10, io.SeekStart)
	if err := r.Put(t.Context(), "deltas/y", f, int64(len(data))); err == nil {
		t.Fatal("a short reader was accepted")
	}
	if left, _ := r.List(t.Context(), ""); len(left) != 1 {
		t.Fatalf("objects after a refused upload: %v", left)
	}
}

// The remotes the CLI and the daemon use are wrapped in retries: a spooled
// delta must still be linked, not copied a second time.
func TestPutLinksThroughRetry(t *testing.T) {
	dir := t.TempDir()
	inner, err := Open(t.Context(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := WithRetry(inner, RetryOptions{})
	defer r.Close()
	putSpooled(t, r, dir, "through WithRetry, ")
}

// A spooled file put into two local-path remotes is linked into the first
// only; the second gets a copy of its own. Linked into both, the remotes
// would share one file, and a change in place to one would damage both.
func TestPutLinksIntoOneRemoteOnly(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	a, err := Open(t.Context(), dirA, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(t.Context(), dirB, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data, f := putSpooled(t, a, dirA, "into the first remote, ")
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(t.Context(), "deltas/x", f, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	onA, onB := filepath.Join(dirA, "deltas", "x"), filepath.Join(dirB, "deltas", "x")
	if sameFile(t, onA, onB) {
		t.Fatal("the second remote's object is a link to the first's")
	}
	if got, _ := os.ReadFile(onB); !bytes.Equal(got, data) {
		t.Fatal("the second remote's copy reads back different bytes")
	}
}

// Puts of one spooled file into several local-path remotes at once (the
// daemon uploads to its remotes at once) link it into one of them at most.
func TestConcurrentPutsLinkOnce(t *testing.T) {
	src, data, _ := spooledFile(t)
	const n = 4
	dirs := make([]string, n)
	files := make([]*os.File, n)
	rems := make([]Remote, n)
	for i := range n {
		dirs[i] = t.TempDir()
		r, err := Open(t.Context(), dirs[i], Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		rems[i] = r
		f, err := os.Open(src) // a handle each: a Put reads from its offset
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		files[i] = f
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = rems[i].Put(t.Context(), "deltas/x", files[i], int64(len(data))) })
	}
	wg.Wait()
	linked := 0
	for i, dir := range dirs {
		if errs[i] != nil {
			t.Fatalf("put into remote %d: %v", i, errs[i])
		}
		obj := filepath.Join(dir, "deltas", "x")
		if got, _ := os.ReadFile(obj); !bytes.Equal(got, data) {
			t.Fatalf("remote %d reads back different bytes", i)
		}
		if sameFile(t, src, obj) {
			linked++
		}
		for _, other := range dirs[:i] {
			if sameFile(t, obj, filepath.Join(other, "deltas", "x")) {
				t.Fatalf("remotes %s and %s share one file", other, dir)
			}
		}
	}
	if linked > 1 {
		t.Fatalf("the spooled file was linked into %d remotes, want at most 1", linked)
	}
}

func sameFile(t *testing.T, p, q string) bool {
	t.Helper()
	a, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.Stat(q)
	if err != nil {
		t.Fatal(err)
	}
	return os.SameFile(a, b)
}

// spooledFile writes a delta-sized file, as the spool holds one, and opens
// it (closed at the end of the test).
func spooledFile(t *testing.T) (string, []byte, *os.File) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "delta")
	data := bytes.Repeat([]byte("chatsafe"), 10000)
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return src, data, f
}

// putSpooled puts a spooled file into r as deltas/x and checks that the
// object in dir is a link to it; it returns the file's bytes and handle.
func putSpooled(t *testing.T, r Remote, dir, how string) ([]byte, *os.File) {
	t.Helper()
	src, data, f := spooledFile(t)
	if err := r.Put(t.Context(), "deltas/x", f, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	a, _ := os.Stat(src)
	b, err := os.Stat(filepath.Join(dir, "deltas", "x"))
	if err != nil || !os.SameFile(a, b) {
		t.Fatalf("%sthe remote object is not a link to the spooled file: %v", how, err)
	}
	return data, f
}
