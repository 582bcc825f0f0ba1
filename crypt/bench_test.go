package crypt

import (
	"fmt"
	"testing"
)

var benchSizes = []int{4 << 10, 64 << 10}

// aeadSizes: a small record, a SQLite page, a media chunk.
var aeadSizes = []int{64, 4 << 10, 64 << 10}

func sizeName(n int) string {
	if n < 1<<10 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}

func BenchmarkSeal(b *testing.B) {
	ad := AssociatedData("chunk", [16]byte{2}, make([]byte, 32))
	for _, c := range Ciphers() {
		a, _ := NewCipherAEAD(c, [32]byte{1})
		for _, size := range aeadSizes {
			b.Run(c.String()+"/"+sizeName(size), func(b *testing.B) {
				pt := make([]byte, size)
				buf := make([]byte, 0, size+Overhead)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					buf = a.Seal(buf[:0], pt, ad)
				}
			})
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	ad := AssociatedData("chunk", [16]byte{2}, make([]byte, 32))
	for _, c := range Ciphers() {
		a, _ := NewCipherAEAD(c, [32]byte{1})
		for _, size := range aeadSizes {
			b.Run(c.String()+"/"+sizeName(size), func(b *testing.B) {
				sealed := a.Seal(nil, make([]byte, size), ad)
				buf := make([]byte, 0, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					var err error
					if buf, err = a.Open(buf[:0], sealed, ad); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkIDHasher(b *testing.B) {
	h := NewIDHasher([32]byte{1})
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			data := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				h.Sum(data)
			}
		})
		b.Run(fmt.Sprintf("%dKiB-parallel", size>>10), func(b *testing.B) {
			data := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					h.Sum(data)
				}
			})
		})
	}
}

func BenchmarkSubkey(b *testing.B) {
	k := Key{1}
	b.ReportAllocs()
	for b.Loop() {
		k.Subkey(PurposeSeal)
	}
}
