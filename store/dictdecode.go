package store

import (
	"errors"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/internal/zprefix"
)

// Frames made with a raw dictionary decode through internal/zprefix:
// klauspost/compress's assembly decoder declines every frame with a
// dictionary, and zprefix hands it the dictionary as the frame's first
// blocks instead. That serves the groups (128–256 KiB) and the pages on
// a base; a lone page with the repository's dictionary (4 KiB against up
// to 256 KiB) is cheaper on the dictionary's own decoder, and zprefix
// leaves it there. So does any frame zprefix fails on: the frames were
// checked with that decoder before they were sealed (decodesTo), so the
// blob stays readable, and a warning says the rewrite failed
// (rewriteFailure). What either decoder returns is checked against the
// blob's keyed id: bytes the rewrite got wrong without an error would
// fail that check, as a damaged blob does.
// Destinations: as decodeStated, except that the spare capacity past n
// may be written, up to the dictionary's size and zprefix's slack (32
// bytes) more.

// rewrittenFrame, set by tests, is called for each frame decoded
// through zprefix.
var rewrittenFrame func()

// faultRewrite, set only by tests, spoils what every frame decoded
// through zprefix gives, without an error, as a bug in the rewrite or in
// the assembly decoder would.
var faultRewrite func(plain []byte)

// decodeStated is decodeStated (blob.go) for a frame made with d; r
// (nil in tests) hears of a frame zprefix failed on.
func (d *dictionary) decodeStated(r *Store, payload, dst []byte, n uint32) ([]byte, error) {
	var rerr error
	if d.pre != nil {
		out, err := decodeRewritten(d.pre, payload, dst, n)
		if err == nil {
			return out, nil
		}
		rerr = err
	}
	out, err := decodeStated(d.dec, payload, dst, n)
	if err == nil && rerr != nil {
		r.rewriteFailure(rerr)
	}
	return out, err
}

// decodesTo reports whether payload, a frame made with d, decodes to
// exactly plain (the check before a frame is sealed, roundtrip.go). It
// keeps d's own decoder: through zprefix each sealing goroutine would
// hold the dictionary twice more (the rewritten frame, and the history
// its output follows), and a first backup's anonymous peak rose
// 0.4–3.4 MB (three alternated runs) against a peak RSS target it meets
// by under 1 MB. Readers decode the same frames through zprefix, or
// with this decoder again if zprefix fails. A page on a base is checked
// through zprefix (decompressOnBase): base and page, a few KiB.
func (d *dictionary) decodesTo(payload, plain []byte) bool {
	return frameDecodesTo(d.dec, payload, plain)
}

// decodeRewritten decodes payload, a frame made with pre's dictionary,
// through zprefix, as decodeStated does. On any error (ErrNotRewritten
// or another) the caller decodes it with the dictionary's own decoder.
func decodeRewritten(pre *zprefix.Dict, payload, dst []byte, n uint32) ([]byte, error) {
	_, plain := zstdCodecs()
	out, err := pre.DecodeAll(plain, payload, dst, int(n))
	if err == nil && rewrittenFrame != nil {
		rewrittenFrame()
	}
	if err == nil && faultRewrite != nil {
		faultRewrite(out[len(dst):])
	}
	return out, err
}

// rewriteFailure notes err, from zprefix on a frame the dictionary's
// decoder then decoded, unless zprefix only declined the frame: the read
// went on, but the rewrite or the assembly decoder has a bug, which a
// warning (at most once per spoiledWarnEvery, with the count so far)
// brings to light.
func (r *Store) rewriteFailure(err error) {
	if r == nil || errors.Is(err, zprefix.ErrNotRewritten) {
		return
	}
	msg := "a compressed blob failed to decode rewritten (internal/zprefix) and was decoded with its dictionary instead; please report this as a bug"
	n := r.rewriteFailed.Add(1)
	r.warnSpaced(&r.rewriteWarned, msg, zap.Int64("failed_so_far", n), zap.Error(err))
}
