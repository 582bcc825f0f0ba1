package remotes

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// A longer source fails before its announced last byte is handed over, so
// an uploader never receives a whole (truncated) body; an exact one reads
// whole, in pieces of any size; a shorter one fails.
func TestExactSize(t *testing.T) {
	data := []byte("0123456789")
	got, err := io.ReadAll(&exactSize{r: bytes.NewReader(data), left: 5, size: 5})
	if !errors.Is(err, errLongerSource) || len(got) >= 5 {
		t.Fatalf("longer source: read %q, %v; want fewer than 5 bytes and errLongerSource", got, err)
	}
	got, err = io.ReadAll(&exactSize{r: iotest.OneByteReader(bytes.NewReader(data)), left: 10, size: 10})
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("exact source: read %q, %v", got, err)
	}
	if _, err = io.ReadAll(&exactSize{r: bytes.NewReader(data), left: 20, size: 20}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("shorter source: %v, want io.ErrUnexpectedEOF", err)
	}
	got, err = io.ReadAll(&exactSize{r: bytes.NewReader(nil), left: 0, size: 0})
	if err != nil || len(got) != 0 {
		t.Fatalf("empty source: %q, %v", got, err)
	}
	// A source that never says EOF after its bytes is not probed for ever.
	if _, err = io.ReadAll(&exactSize{r: io.MultiReader(bytes.NewReader(data[:3]), stalled{}), left: 3, size: 3}); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("stalled source: %v, want io.ErrNoProgress", err)
	}
}

// stalled returns no bytes and no error, for ever.
type stalled struct{}

func (stalled) Read([]byte) (int, error) { return 0, nil }
