package store

import (
	"context"
	"fmt"
	"runtime"
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
		zstdEnc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithLowerEncoderMem(true), zstd.WithEncoderCRC(false))
		if err != nil {
			panic(err) // only on invalid static options
		}
		zstdDec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxBlobSize+1<<20))
		if err != nil {
			panic(err)
		}
	})
	return zstdEnc, zstdDec
}

// sealBlob compresses (unless incompressible) and seals plain, appending
// the result to dst. scratch is reused for compression.
func (r *Store) sealBlob(dst []byte, id crypt.ID, plain []byte, incompressible bool, scratch []byte) (out []byte, comp compression, scratchOut []byte) {
	payload := plain
	if !incompressible && len(plain) >= 64 {
		enc, _ := zstdCodecs()
		scratch = enc.EncodeAll(plain, scratch[:0])
		if len(scratch) < len(plain)-len(plain)/8 {
			payload, comp = scratch, compZstd
		}
	}
	return r.aead.Seal(dst, payload, crypt.AssociatedData(adBlob, r.cfg.RepoID, id[:])), comp, scratch
}

// openBlob authenticates, decompresses and verifies a sealed blob: the
// plaintext must hash to the id the index gives, so a swapped or
// substituted blob is caught even if it were sealed with our key.
// openScratch holds a reader's reusable buffers; the plaintext openBlob
// returns lives in one of them until the next call.
type openScratch struct{ payload, plain []byte }

func (r *Store) openBlob(ctx context.Context, loc blobLoc, sealed []byte, s *openScratch) ([]byte, error) {
	if s == nil {
		s = &openScratch{}
	}
	e := loc.entry
	name := loc.d.ref.name()
	payload, err := r.aead.Open(s.payload[:0], sealed, crypt.AssociatedData(adBlob, r.cfg.RepoID, e.ID[:]))
	s.payload = payload
	if err != nil {
		return nil, integrityErr(name, fmt.Sprintf("blob %s at offset %d cannot be authenticated", e.ID, e.Offset), err)
	}
	plain := payload
	if e.Comp == compZstdBase {
		if plain, err = r.openOnBase(ctx, loc, payload, s.plain[:0]); err != nil {
			return nil, err
		}
		s.plain = plain
	} else if e.Comp == compZstd || e.Comp == compZstdDict {
		_, dec := zstdCodecs()
		if e.Comp == compZstdDict {
			d, err := r.loadDict(ctx, *e.Dict, loc)
			if err != nil {
				return nil, err
			}
			dec = d.dec
		}
		plain, err = dec.DecodeAll(payload, s.plain[:0])
		s.plain = plain
		if err != nil {
			return nil, integrityErr(name, fmt.Sprintf("blob %s does not decompress", e.ID), err)
		}
	}
	if len(plain) != int(e.RawLen) {
		return nil, integrityErr(name, fmt.Sprintf("blob %s has %d bytes, want %d", e.ID, len(plain), e.RawLen), nil)
	}
	if r.ids.Sum(plain) != e.ID {
		return nil, integrityErr(name, fmt.Sprintf("blob %s does not match its id", e.ID), nil)
	}
	return plain, nil
}

// sealNew compresses and seals a new blob of job j into its delta: a page
// with the current dictionary when that pays (dict.go), anything else as
// sealBlob does.
func (r *Store) sealNew(j sealJob, plain []byte, sealBuf, scratch *[]byte) error {
	if j.base != (crypt.ID{}) && j.typ == blobData && !j.incompressible {
		out, root, ok, err := r.sealOnBase(j.ctx, j.id, j.base, plain, (*sealBuf)[:0])
		if err != nil {
			return err
		}
		if ok {
			*sealBuf = out
			return j.w.appendSealed(j.id, j.typ, compZstdBase, root, len(plain), out)
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
			return j.w.appendSealed(j.id, j.typ, comp, dict, len(plain), out)
		}
	}
	var comp compression
	*sealBuf, comp, *scratch = r.sealBlob((*sealBuf)[:0], j.id, plain, j.incompressible, *scratch)
	return j.w.appendSealed(j.id, j.typ, comp, nil, len(plain), *sealBuf)
}
