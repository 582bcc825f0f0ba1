package mount

import (
	"bytes"
	"testing"
)

func TestAsRollbackCoversOnlyTheVersionBytes(t *testing.T) {
	h := append([]byte("SQLite format 3\x00\x10\x00\x02\x02"), 0x40, 0x20, 0x20)
	if !walHeader(h) {
		t.Fatal("a WAL header not recognised")
	}
	for _, c := range []struct {
		off, n int
	}{{0, len(h)}, {18, 1}, {19, 4}, {17, 2}, {0, 18}, {20, 3}} {
		p := bytes.Clone(h[c.off : c.off+c.n])
		asRollback(p, int64(c.off))
		for i := range p {
			want := h[c.off+i]
			if at := c.off + i; at == 18 || at == 19 {
				want = 1
			}
			if p[i] != want {
				t.Errorf("read at %d of %d bytes: byte %d is %d, want %d", c.off, c.n, c.off+i, p[i], want)
			}
		}
	}
	for _, other := range [][]byte{h[:19], []byte("SQLite format 4\x00\x10\x00\x02\x02"), append(bytes.Clone(h[:18]), 1, 1)} {
		if walHeader(other) {
			t.Errorf("%q taken for a WAL header", other)
		}
	}
}
