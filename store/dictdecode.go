package store

import (
	"bytes"
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
// leaves it there. So does any frame zprefix fails on, and a warning
// says the rewrite failed (rewriteFailure). The check before sealing
// (decodesTo) decodes a frame as readers do: through zprefix, and with
// the dictionary's decoder only where zprefix declines or fails on the
// writer's machine. So a reader that falls back to that decoder for a
// frame zprefix took when it was written decodes it unchecked, and an
// error in that decoder would be an integrity error there, not a wrong
// restore: what either decoder returns is checked against the blob's
// keyed id, as a damaged blob is.
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
// exactly plain the way readers will decode it (decodeStated): the check
// before a frame is sealed (roundtrip.go). That is through zprefix, or
// with d's own decoder for a frame zprefix declines (one of less than a
// quarter of the dictionary's size, as most lone pages are) or fails
// on. A frame zprefix decodes to other bytes fails the check even if
// d's decoder gets it right: readers would take zprefix's bytes, and the
// blob would be lost. A group is decoded in *room, the sealing
// worker's buffer for the sealed blob (free until the seal), grown to
// what zprefix decodes in place (the dictionary, the group and a little
// slack); a nil room takes a pooled buffer. r (nil in tests) hears of a
// frame zprefix failed on or got wrong where d's decoder got it right.
func (d *dictionary) decodesTo(r *Store, payload, plain []byte, room *[]byte) bool {
	if d.pre == nil {
		return frameDecodesTo(d.dec, payload, plain)
	}
	err := rewrittenDecodesTo(d.pre, payload, plain, room)
	if err == nil {
		return true
	}
	// Declined, failed or wrong: what d's decoder makes of it tells a
	// spoiled frame (wrong either way) from a fault of the rewrite.
	if !frameDecodesTo(d.dec, payload, plain) {
		return false
	}
	r.rewriteFailure(err)
	return !errors.Is(err, errRewriteMismatch)
}

// errRewriteMismatch says a frame decoded through zprefix, without an
// error, to other bytes than it was made of.
var errRewriteMismatch = errors.New("zprefix: a frame decoded to other bytes than it was made of")

// rewrittenDecodesTo is decodesTo through zprefix: nil if payload
// decodes to exactly plain, errRewriteMismatch if to other bytes, else
// zprefix's error (ErrNotRewritten for a frame it declines).
func rewrittenDecodesTo(pre *zprefix.Dict, payload, plain []byte, room *[]byte) error {
	n := uint32(len(plain))
	if room == nil {
		var err error
		if !decodesTo(plain, func(dst []byte) ([]byte, error) {
			out, derr := decodeRewritten(pre, payload, dst, n)
			err = derr
			return out, derr
		}) && err == nil {
			return errRewriteMismatch
		}
		return err
	}
	if need := pre.Room(len(plain)); cap(*room) < need {
		*room = make([]byte, 0, need)
	}
	out, err := decodeRewritten(pre, payload, (*room)[:0], n)
	switch {
	case err != nil:
		return err
	case !bytes.Equal(out, plain):
		return errRewriteMismatch
	}
	return nil
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
// decoder then decoded (without an error, for a read, whose caller then
// checks the blob's id; to exactly its input, for the check before
// sealing), unless zprefix only declined the frame: the read went on
// with that decoder, or the check stored the blob another way
// (errRewriteMismatch), but the rewrite or the assembly decoder has a
// bug, which a warning (at most once per spoiledWarnEvery, with the
// count so far) brings to light.
func (r *Store) rewriteFailure(err error) {
	if r == nil || errors.Is(err, zprefix.ErrNotRewritten) {
		return
	}
	msg := "a compressed blob failed to decode, or decoded wrong, through internal/zprefix, and its dictionary's own decoder decoded it; please report this as a bug"
	n := r.rewriteFailed.Add(1)
	r.warnSpaced(&r.rewriteWarned, msg, zap.Int64("failed_so_far", n), zap.Error(err))
}
