package store

import (
	"errors"

	"github.com/chatsafe/chatsafe/internal/zprefix"
)

// Frames made with a raw dictionary (the groups, the lone pages with the
// repository's dictionary, the pages on a base) decode through
// internal/zprefix: klauspost/compress's assembly decoder declines every
// frame with a dictionary, and zprefix hands it the dictionary as the
// frame's first blocks instead. A frame it does not rewrite (none the
// writer makes) goes to the dictionary's own decoder, as before.

// rewrittenFrame, set by tests, is called for each frame decoded
// through zprefix.
var rewrittenFrame func()

// decodeStated is decodeStated (blob.go) for a frame made with d.
func (d *dictionary) decodeStated(payload, dst []byte, n uint32) ([]byte, error) {
	if d.pre != nil {
		out, err := decodeRewritten(d.pre, payload, dst, n)
		if !errors.Is(err, zprefix.ErrNotRewritten) {
			return out, err
		}
	}
	return decodeStated(d.dec, payload, dst, n)
}

// decodesTo reports whether payload, a frame made with d, decodes to
// exactly plain (the check before a frame is sealed, roundtrip.go).
func (d *dictionary) decodesTo(payload, plain []byte) bool {
	return decodesTo(plain, func(dst []byte) ([]byte, error) {
		return d.decodeStated(payload, dst, uint32(len(plain)))
	})
}

// decodeRewritten decodes payload, a frame made with pre's dictionary,
// through zprefix, as decodeStated does; zprefix.ErrNotRewritten leaves
// the frame to the dictionary's own decoder.
func decodeRewritten(pre *zprefix.Dict, payload, dst []byte, n uint32) ([]byte, error) {
	_, plain := zstdCodecs()
	out, err := pre.DecodeAll(plain, payload, dst, int(n))
	if err == nil && rewrittenFrame != nil {
		rewrittenFrame()
	}
	return out, err
}
