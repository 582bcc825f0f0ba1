package store

import (
	"bytes"
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

// Every write reaching the spool file is at most spoolWriteSize bytes,
// however large the piece written (a trailer or padding runs to MBs), and
// the bytes arrive whole and in order.
func TestCappedWriterSplitsLargeWrites(t *testing.T) {
	rec := &recordingWriter{}
	cw := cappedWriter{rec, spoolWriteSize}
	data := make([]byte, 5*spoolWriteSize+123)
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
		if s > spoolWriteSize {
			t.Fatalf("a write of %d bytes reached the file (cap %d)", s, spoolWriteSize)
		}
	}
}
