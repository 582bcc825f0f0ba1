package store

import (
	"bytes"
	"errors"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
)

// TestSealedTrailerFrom: the one footer-to-trailer read takes the trailer
// from the tail when it fits, reads it again when it does not, and turns
// every bad footer into an integrity failure without reading by it.
func TestSealedTrailerFrom(t *testing.T) {
	object := func(body, tlen int) ([]byte, []byte) {
		b := bytes.Repeat([]byte{0xb0}, body)
		tr := make([]byte, tlen)
		for i := range tr {
			tr[i] = byte(i)
		}
		return append(append(b, tr...), encodeFooter(tlen)...), tr
	}
	reader := func(obj []byte, reads *int) func(off, n int64) ([]byte, error) {
		return func(off, n int64) ([]byte, error) {
			*reads++
			if off < 0 || off+n > int64(len(obj)) {
				t.Fatalf("read of %d at %d beyond the %d-byte object", n, off, len(obj))
			}
			return bytes.Clone(obj[off : off+n]), nil
		}
	}
	for _, c := range []struct {
		name       string
		body, tlen int
		wantReads  int
	}{
		{"small", 1000, 200, 1},
		{"in a short object", 0, crypt.Overhead, 1},
		{"exactly filling the tail", 10, tailRead - footerSize, 1},
		{"larger than the tail", 5000, tailRead + 3, 2},
	} {
		obj, want := object(c.body, c.tlen)
		reads := 0
		got, err := sealedTrailerFrom("d", int64(len(obj)), reader(obj, &reads))
		if err != nil || !bytes.Equal(got, want) || reads != c.wantReads {
			t.Errorf("%s: %d bytes in %d reads (%v), want %d bytes in %d", c.name, len(got), reads, err, len(want), c.wantReads)
		}
	}

	body, _ := object(300, 100)
	bad := map[string][]byte{
		"too short":        body[len(body)-footerSize-crypt.Overhead+1:],
		"no magic":         append(bytes.Clone(body[:len(body)-1]), 'x'),
		"over the cap":     append(bytes.Clone(body[:len(body)-footerSize]), encodeFooter(maxTrailerSize+1)...),
		"beyond the start": append(bytes.Clone(body[:len(body)-footerSize]), encodeFooter(len(body))...),
		"below the seal":   append(bytes.Clone(body[:len(body)-footerSize]), encodeFooter(crypt.Overhead-1)...),
	}
	for name, obj := range bad {
		reads := 0
		_, err := sealedTrailerFrom("d", int64(len(obj)), reader(obj, &reads))
		if !errors.Is(err, ErrIntegrity) || reads > 1 {
			t.Errorf("%s: %v after %d reads, want an integrity failure after at most one", name, err, reads)
		}
	}

	// A failed read is passed on as it is: not a verdict on the delta.
	boom := errors.New("remote down")
	_, err := sealedTrailerFrom("d", 1<<20, func(off, n int64) ([]byte, error) { return nil, boom })
	var ie *IntegrityError
	if !errors.Is(err, boom) || errors.As(err, &ie) {
		t.Errorf("a failed read: %v", err)
	}
}
