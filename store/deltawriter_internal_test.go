package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

type recordingWriter struct {
	buf   bytes.Buffer
	sizes []int
}

func (r *recordingWriter) Write(p []byte) (int, error) {
	r.sizes = append(r.sizes, len(p))
	return r.buf.Write(p)
}

// Every write reaching the spool file is at most spoolWriteMax bytes,
// however large the piece written (a trailer or padding runs to MBs), and
// the bytes arrive whole and in order.
func TestCappedWriterSplitsLargeWrites(t *testing.T) {
	rec := &recordingWriter{}
	cw := cappedWriter{rec, spoolWriteMax}
	data := make([]byte, 5*spoolWriteMax+123)
	for i := range data {
		data[i] = byte(i * 7)
	}
	n, err := cw.Write(data)
	if err != nil || n != len(data) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(data))
	}
	if !bytes.Equal(rec.buf.Bytes(), data) {
		t.Fatal("the pieces do not add up to the bytes written")
	}
	if len(rec.sizes) != 6 {
		t.Fatalf("%d writes, want 6: %v", len(rec.sizes), rec.sizes)
	}
	for _, s := range rec.sizes {
		if s > spoolWriteMax {
			t.Fatalf("a write of %d bytes reached the file (cap %d)", s, spoolWriteMax)
		}
	}
}

// TestWritebackWriterKeepsTheBytes: starting the writeback on the way
// changes nothing in what the file holds, and is asked for in steps of
// writebackEvery.
func TestWritebackWriterKeepsTheBytes(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "delta"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := make([]byte, 2*writebackEvery+12345)
	for i := range want {
		want[i] = byte(i * 7)
	}
	w := &writebackWriter{f: f}
	cw := cappedWriter{w, spoolWriteMax}
	if n, err := cw.Write(want); err != nil || n != len(want) {
		t.Fatalf("wrote %d of %d bytes: %v", n, len(want), err)
	}
	if w.started != 2*writebackEvery {
		t.Fatalf("writeback started up to byte %d, want %d", w.started, 2*writebackEvery)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the file differs from what was written")
	}
}

// A large sealed blob (a media chunk, 2 MiB) reaches the spool file in
// writes of spoolWriteMax, straight from its own buffer, while small ones
// (pages, small groups) are gathered into writes of spoolBufferSize; the
// bytes arrive whole and in order either way.
//
// The sizes are measured choices (spoolWriteMax), pinned here.
func TestSpoolWriterSizes(t *testing.T) {
	const bufferSize, writeMax = 64 << 10, 256 << 10
	rec := &recordingWriter{}
	w := spoolWriter(rec)
	var want []byte
	small := make([]byte, 10<<10)
	for i := range 13 { // 130 KiB: two full buffers, the rest held
		small[0] = byte(i)
		want = append(want, small...)
		if _, err := w.Write(small); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(rec.sizes) != 3 || rec.sizes[0] != bufferSize || rec.sizes[1] != bufferSize {
		t.Fatalf("small blobs reached the file in writes of %v, want two of %d and the rest", rec.sizes, bufferSize)
	}
	rec.sizes = nil
	chunk := make([]byte, 2<<20)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	want = append(want, chunk...)
	if _, err := w.Write(chunk); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(rec.sizes) != len(chunk)/writeMax {
		t.Fatalf("a 2 MiB chunk reached the file in %d writes (%v), want %d of %d", len(rec.sizes), rec.sizes, len(chunk)/writeMax, writeMax)
	}
	for _, s := range rec.sizes {
		if s != writeMax {
			t.Fatalf("a 2 MiB chunk reached the file in writes of %v, want %d each", rec.sizes, writeMax)
		}
	}
	if !bytes.Equal(rec.buf.Bytes(), want) {
		t.Fatal("the file differs from what was written")
	}
}

// A chunk that arrives while the buffer holds a small blob fills the
// buffer, which goes out as one write; the chunk's rest goes straight to
// the file in pieces of at most spoolWriteMax.
func TestSpoolWriterChunkAfterSmallBlob(t *testing.T) {
	rec := &recordingWriter{}
	w := spoolWriter(rec)
	small := make([]byte, 10<<10)
	chunk := make([]byte, 2<<20)
	for i := range chunk {
		chunk[i] = byte(i * 13)
	}
	for _, p := range [][]byte{small, chunk} {
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	rest := len(chunk) - (spoolBufferSize - len(small))
	want := []int{spoolBufferSize}
	for ; rest > spoolWriteMax; rest -= spoolWriteMax {
		want = append(want, spoolWriteMax)
	}
	want = append(want, rest)
	if fmt.Sprint(rec.sizes) != fmt.Sprint(want) {
		t.Fatalf("writes of %v, want %v", rec.sizes, want)
	}
	if !bytes.Equal(rec.buf.Bytes(), append(small, chunk...)) {
		t.Fatal("the file differs from what was written")
	}
}
