package remotes

import (
	"bytes"
	"fmt"
	"testing"
)

// BenchmarkPut measures a 1 MiB Put (temp name + rename on local, in place
// on memory).
func BenchmarkPut(b *testing.B) {
	data := randomBytes(9, 1<<20)
	for _, spec := range []string{"local", ":memory:bench"} {
		b.Run(spec, func(b *testing.B) {
			s := spec
			if s == "local" {
				s = b.TempDir()
			}
			r, err := Open(b.Context(), s, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			b.SetBytes(int64(len(data)))
			i := 0
			for b.Loop() {
				if err := r.Put(b.Context(), fmt.Sprintf("deltas/%d", i), bytes.NewReader(data), int64(len(data))); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
