package store

import (
	"context"
	"math/bits"

	"github.com/chatsafe/chatsafe/crypt"
)

// Padding: a delta's size would otherwise follow its content (one message
// or fifty, a photo's exact length). Each delta carries a sealed padding
// piece between its last blob and its trailer, sized so that the whole
// object has one of few sizes: at least padFloor, and above it a Padmé
// size (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files
// and Communication with PURBs", 2019), which leaks O(log log n) bits of
// a size n for at most 1/2^S extra, S = floor(log2 floor(log2 n)) + 1:
// 3.1 % for sizes from 64 KiB to 4 GiB. The trailer (sealed) states the
// piece's length, so a reader still accounts for every byte of the
// object; check --read-data authenticates the piece itself.
const (
	// padFloor makes every small delta (a few messages, a settings
	// change) the same size.
	padFloor = 64 << 10

	// maxPadding bounds the sealed padding of one delta: it is sealed and
	// read like one blob, under the same limit.
	maxPadding = maxBlobSize + crypt.Overhead

	adPadding = "padding"
)

// padmeSize rounds n up to a Padmé size: its low E−S bits cleared, where
// E = floor(log2 n) and S = floor(log2 E) + 1. It returns padFloor for
// anything up to padFloor.
func padmeSize(n int64) int64 {
	if n <= padFloor {
		return padFloor
	}
	e := bits.Len64(uint64(n)) - 1
	s := bits.Len(uint(e))
	mask := int64(1)<<(e-s) - 1
	return (n + mask) &^ mask
}

// paddingFor returns the sealed padding length for a delta whose other
// bytes (blobs, sealed trailer, footer) number base. It is at least the
// seal's overhead, so the piece always exists and is authenticated.
func paddingFor(base int64) uint32 {
	return uint32(min(padmeSize(base+crypt.Overhead)-base, maxPadding))
}

// writePadding appends the sealed padding piece: zeros sealed under the
// delta's id, indistinguishable from the blobs around it.
func (w *deltaWriter) writePadding(sealedLen uint32) error {
	zeros := make([]byte, int(sealedLen)-crypt.Overhead)
	sealed := w.r.aead.Seal(nil, zeros, crypt.AssociatedData(adPadding, w.r.cfg.RepoID, w.id[:]))
	_, err := w.w.Write(sealed)
	return err
}

// verifyPadding reads and authenticates a delta's padding piece (format 1
// deltas have none).
func (r *Store) verifyPadding(ctx context.Context, d *delta) error {
	t := d.trailer
	if t.Padding == 0 {
		return nil
	}
	off := t.sealedEnd()
	sealed, err := r.readRange(ctx, d, int64(off), int64(t.Padding))
	if err != nil {
		return err
	}
	defer putRangeBuf(sealed)
	if _, err := r.aead.Open(nil, sealed, crypt.AssociatedData(adPadding, r.cfg.RepoID, d.ref.ID[:])); err != nil {
		return integrityErr(d.ref.name(), "padding cannot be authenticated", err)
	}
	return nil
}
