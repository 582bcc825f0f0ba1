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
// exactly plain (the check before a frame is sealed, roundtrip.go). It
// keeps d's own decoder: through zprefix each sealing goroutine would
// hold the dictionary twice more (the rewritten frame, and the history
// its output follows), and a first backup's anonymous peak rose
// 0.4–3.4 MB (three alternated runs) against a peak RSS target it meets
// by under 1 MB. Readers decode the same frames through zprefix; the
// keyed hash of every page checks what they get.
func (d *dictionary) decodesTo(payload, plain []byte) bool {
	return frameDecodesTo(d.dec, payload, plain)
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
