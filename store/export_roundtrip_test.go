package store

import "testing"

// SpoilFrames flips a byte in the middle of every frame the encoder
// returns for storing, as an encoder bug or a bit flipped in memory
// would, until stop is called or the test ends.
func SpoilFrames(t testing.TB) (stop func()) {
	faultEncode = func(f []byte) {
		if len(f) > 0 {
			f[len(f)/2] ^= 0x55
		}
	}
	stop = func() { faultEncode = nil }
	t.Cleanup(stop)
	return stop
}

// SpoilRewrites flips a byte in the middle of what every frame decoded
// through internal/zprefix gives, without an error, as a bug in the
// rewrite or in klauspost/compress's assembly decoder would, until the
// test ends.
func SpoilRewrites(t testing.TB) {
	faultRewrite = func(plain []byte) {
		if len(plain) > 0 {
			plain[len(plain)/2] ^= 0x55
		}
	}
	t.Cleanup(func() { faultRewrite = nil })
}
