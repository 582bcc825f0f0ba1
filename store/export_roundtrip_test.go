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
