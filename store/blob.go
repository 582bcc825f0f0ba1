package store

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/chatsafe/chatsafe/crypt"
)

// Blobs are compressed with zstd when that saves at least an eighth, then
// sealed with the blob id (and the repository id) as associated data.

var (
	zstdOnce sync.Once
	zstdEnc  *zstd.Encoder
	zstdDec  *zstd.Decoder
)

func zstdCodecs() (*zstd.Encoder, *zstd.Decoder) {
	zstdOnce.Do(func() {
		var err error
		// One encoder per core: EncodeAll blocks while all are busy, and
		// the sealing pipeline compresses on every core. No zstd checksum:
		// the seal's tag and the keyed hash verify every blob already.
		zstdEnc, err = newPlainEncoder()
		if err != nil {
			panic(err) // only on invalid static options
		}
		zstdDec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxBlobSize+1<<20),
			zstd.WithDecodeAllCapLimit(true))
		if err != nil {
			panic(err)
		}
	})
	return zstdEnc, zstdDec
}

// plainWindow is the zstd window of blobs compressed without a
// dictionary. Each encoder keeps a history of its window and a block
// (128 KiB), one per core for the life of the process. Data chunks that
// are compressed are at most 256 KiB (media chunks, up to 2 MiB, are
// stored as is), and a tree or list larger than the window only loses
// matches further back. 1 MiB held 0.5 MiB more a core than 512 KiB
// (TestPlainEncoderStateHoldsOneChunk). 256 KiB would hold the largest
// chunk too, but a first backup's anonymous peak measured ~1 MB higher
// with it, for a reason not found (docs/benchmarks.md, "Thirtieth
// session"); 512 KiB measured the same as 1 MiB there.
const plainWindow = 512 << 10

// newPlainEncoder makes the encoder of blobs without a dictionary.
func newPlainEncoder() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithWindowSize(plainWindow), zstd.WithLowerEncoderMem(true), zstd.WithEncoderCRC(false))
}

// sealBlob compresses (unless incompressible) and seals plain, appending
// the result to dst. scratch is reused for compression.
func (r *Store) sealBlob(dst []byte, id crypt.ID, plain []byte, incompressible bool, scratch []byte) (out []byte, comp compression, scratchOut []byte) {
	payload := plain
	if !incompressible && len(plain) >= 64 {
		enc, dec := zstdCodecs()
		scratch = encodeAll(enc, plain, scratch[:0])
		if len(scratch) < len(plain)-len(plain)/8 {
			if frameDecodesTo(dec, scratch, plain) {
				payload, comp = scratch, compZstd
			} else {
				r.spoiledFrame(id, "zstd")
			}
		}
	}
	return r.aead.Seal(dst, payload, crypt.AssociatedData(adBlob, r.cfg.RepoID, id[:])), comp, scratch
}

// openBlob authenticates, decompresses and verifies a sealed blob: the
// plaintext must hash to the id the index gives, so a swapped or
// substituted blob is caught even if it were sealed with our key.
// openScratch holds a reader's reusable buffers; the plaintext openBlob
// returns lives in one of them until the next call.
type openScratch struct {
	payload, plain []byte
	group          []byte // the plaintext of a group whose members are read
}

func (r *Store) openBlob(ctx context.Context, loc blobLoc, sealed []byte, s *openScratch) ([]byte, error) {
	if s == nil {
		s = &openScratch{}
	}
	out, err := r.openBlobAppend(ctx, loc, sealed, s, s.plain[:0])
	if err != nil {
		return nil, err
	}
	s.plain = out
	return out, nil
}

// openBlobAppend is openBlob appending the plaintext to dst: a blob
// stored uncompressed is decrypted straight into dst, a compressed one
// decompressed into it, so a range of blobs opens into one buffer without
// a copy. On error dst's contents past len(dst) are undefined.
func (r *Store) openBlobAppend(ctx context.Context, loc blobLoc, sealed []byte, s *openScratch, dst []byte) ([]byte, error) {
	start := len(dst)
	out, err := r.openPayload(ctx, loc, sealed, s, dst)
	if err != nil {
		return nil, err
	}
	// Kept though the seal binds the id (docs/format.md, "Why every
	// blob is hashed again"): it is the only check of the decompressor
	// and of the writer that made the blob.
	if e := loc.entry; r.ids.Sum(out[start:]) != e.ID {
		return nil, integrityErr(loc.d.ref.name(), fmt.Sprintf("blob %s does not match its id", e.ID), nil)
	}
	return out, nil
}

// openPayload is openBlobAppend without the check of the keyed id: it
// authenticates, decompresses and checks the length.
func (r *Store) openPayload(ctx context.Context, loc blobLoc, sealed []byte, s *openScratch, dst []byte) ([]byte, error) {
	e := loc.entry
	name := loc.d.ref.name()
	if e.isMember() {
		return nil, integrityErr(name, fmt.Sprintf("blob %s is a group member, not a sealed blob", e.ID), nil)
	}
	ad := crypt.AssociatedData(adBlob, r.cfg.RepoID, e.ID[:])
	start := len(dst)
	var out []byte
	var err error
	if e.Comp == compNone {
		if out, err = r.aead.Open(dst, sealed, ad); err != nil {
			return nil, integrityErr(name, fmt.Sprintf("blob %s at offset %d cannot be authenticated", e.ID, e.Offset), err)
		}
	} else {
		s.payload, err = r.aead.Open(s.payload[:0], sealed, ad)
		if err != nil {
			return nil, integrityErr(name, fmt.Sprintf("blob %s at offset %d cannot be authenticated", e.ID, e.Offset), err)
		}
		if out, err = r.decompress(ctx, loc, s.payload, dst); err != nil {
			return nil, err
		}
	}
	if n := len(out) - start; n != int(e.RawLen) {
		return nil, integrityErr(name, fmt.Sprintf("blob %s has %d bytes, want %d", e.ID, n, e.RawLen), nil)
	}
	return out, nil
}

// decompress appends the plaintext of a compressed blob's payload to dst.
func (r *Store) decompress(ctx context.Context, loc blobLoc, payload, dst []byte) ([]byte, error) {
	e := loc.entry
	if e.Comp == compZstdBase {
		return r.openOnBase(ctx, loc, payload, dst)
	}
	var out []byte
	var err error
	if e.Comp == compZstdDict {
		id, ok := loc.d.trailer.dictOf(e)
		if !ok {
			return nil, integrityErr(loc.d.ref.name(), fmt.Sprintf("blob %s is compressed with a dictionary its trailer does not name", e.ID), nil)
		}
		d, lerr := r.loadDict(ctx, id, loc)
		if lerr != nil {
			return nil, lerr
		}
		out, err = d.decodeStated(r, payload, dst, e.RawLen)
	} else {
		_, dec := zstdCodecs()
		out, err = decodeStated(dec, payload, dst, e.RawLen)
	}
	if err != nil {
		return nil, integrityErr(loc.d.ref.name(), fmt.Sprintf("blob %s does not decompress to its %d bytes", e.ID, e.RawLen), err)
	}
	return out, nil
}

// decodeStated appends to dst the frame payload decodes to, no more than
// n bytes: the decoders (WithDecodeAllCapLimit) decode no further than
// their destination's capacity, so a frame that inflates past the length
// its entry states (a group's at most 256 KiB) fails there instead of at
// the 64 MiB blob limit; the header's content size, when a frame gives
// one, fails it at once. The frame is decoded after dst's bytes, not
// appended to them, as a decoder's memory limit counts what its
// destination already holds (the blobs of a range opened before this
// one); the result keeps dst's grown capacity, as a ranged read appends
// its blobs one after another into one buffer and a result capped at its
// length would make the next blob copy all of it.
func decodeStated(dec *zstd.Decoder, payload, dst []byte, n uint32) ([]byte, error) {
	l := len(dst)
	g := slices.Grow(dst, int(n))
	out, err := dec.DecodeAll(payload, g[l:l:l+int(n)])
	if err != nil {
		return nil, err
	}
	if len(out) > 0 && (cap(g) == l || &g[:l+1][l] != &out[0]) {
		return append(g[:l], out...), nil // not decoded in place
	}
	return g[:l+len(out)], nil
}

// sealNew compresses and seals a new blob of job j into its delta: a page
// with the current dictionary when that pays (dict.go), anything else as
// sealBlob does.
func (r *Store) sealNew(j sealJob, plain []byte, sealBuf, scratch *[]byte) error {
	if j.baseLen > 0 && j.typ == blobData && !j.incompressible {
		base := (*j.buf)[len(plain):]
		if out, ok := r.sealOnBase(j.id, j.base, base, plain, (*sealBuf)[:0]); ok {
			*sealBuf = out
			root := j.base
			return j.w.appendSealed(j.reservation(plain), j.id, j.typ, compZstdBase, &root, len(plain), out)
		}
	}
	if j.typ == blobData && !j.incompressible && len(plain) >= dictMinBlob && len(plain) <= dictMaxBlob {
		out, comp, dict, sc, ok, err := r.sealPage(j.w, j.id, plain, (*sealBuf)[:0], *scratch)
		*scratch = sc
		if err != nil {
			return err
		}
		if ok {
			*sealBuf = out
			return j.w.appendSealed(j.reservation(plain), j.id, j.typ, comp, dict, len(plain), out)
		}
	}
	var comp compression
	*sealBuf, comp, *scratch = r.sealBlob((*sealBuf)[:0], j.id, plain, j.incompressible, *scratch)
	return j.w.appendSealed(j.reservation(plain), j.id, j.typ, comp, nil, len(plain), *sealBuf)
}
