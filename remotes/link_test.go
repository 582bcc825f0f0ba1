package remotes

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
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
