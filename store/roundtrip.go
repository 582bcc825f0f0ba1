package store

import (
	"github.com/klauspost/compress/zstd"
)

// faultEncode, set only by tests, spoils every frame encodeAll returns, as
// an encoder bug or a bit flipped in memory would.
var faultEncode func(frame []byte)

// encodeAll is enc.EncodeAll for a payload that will be stored.
func encodeAll(enc *zstd.Encoder, plain, dst []byte) []byte {
	out := enc.EncodeAll(plain, dst)
	if faultEncode != nil {
		faultEncode(out[len(dst):])
	}
	return out
}
