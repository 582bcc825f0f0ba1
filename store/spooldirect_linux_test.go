//go:build linux

package store

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestDirectSinkKeepsEveryByte: a delta written through the direct sink,
// in pieces of every size (none aligned), holds exactly what was written:
// the first directAfter bytes through the page cache, whole buffers
// directly after that, and the last, partial buffer's whole blocks
// directly and its tail through the page cache.
func TestDirectSinkKeepsEveryByte(t *testing.T) {
	path, f := newDeltaFile(t)
	defer f.Close()
	s := newSpoolSink(f).(*directSink)
	rng := rand.New(rand.NewPCG(7, 8))
	want := make([]byte, directAfter+3*directBuf+5*directAlign+123)
	for i := range want {
		want[i] = byte(rng.Uint32())
	}
	for p := want; len(p) > 0; {
		n := min(len(p), 1+rng.IntN(300<<10))
		if k, err := s.Write(p[:n]); err != nil || k != n {
			t.Fatalf("Write = %d, %v; want %d, nil", k, err, n)
		}
		p = p[n:]
	}
	if s.directN == 0 && !s.off {
		t.Fatal("nothing was written directly, and direct writes were not refused")
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if s.buf != nil {
		t.Fatal("Flush kept the buffer")
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the file (%d bytes) differs from what was written (%d bytes)", len(got), len(want))
	}
	t.Logf("%d of %d bytes written directly", s.directN, len(want))
}

// TestDirectSinkSmallDeltaStaysCached: a delta smaller than directAfter
// (a daemon cycle's) is written through the page cache alone.
func TestDirectSinkSmallDeltaStaysCached(t *testing.T) {
	path, f := newDeltaFile(t)
	defer f.Close()
	s := newSpoolSink(f).(*directSink)
	want := bytes.Repeat([]byte("page"), 3*directBuf/4+1001)
	if _, err := s.Write(want); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if s.directN != 0 {
		t.Fatalf("%d bytes of a %d-byte delta were written directly", s.directN, len(want))
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the file differs from what was written (%v)", err)
	}
}

// TestDirectSinkErrorSticks: after a failed write the sink refuses every
// later write and its flush, as the buffered writer it replaced did, so
// a caller that went on appending could not finish a delta whose offsets
// no longer match its bytes.
func TestDirectSinkErrorSticks(t *testing.T) {
	_, f := newDeltaFile(t)
	s := newSpoolSink(f)
	f.Close() // every write to f fails from here on
	if _, err := s.Write(make([]byte, directBuf+1)); err == nil {
		t.Fatal("a write of a full buffer to a closed file succeeded")
	}
	if _, err := s.Write([]byte{1}); err == nil {
		t.Error("a write after a failed one was taken")
	}
	if err := s.Flush(); err == nil {
		t.Error("a flush after a failed write succeeded")
	}
}

// newDeltaFile creates a spool file for a delta being written, as the
// delta writer does.
func newDeltaFile(t *testing.T) (string, *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "delta.partial")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return path, f
}
