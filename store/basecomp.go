package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/zprefix"
)

// Pages compressed on their previous version (docs/format.md, "Pages on
// their previous version"). A page an app changed differs from the version
// the last backup stored in a few bytes: a row edited, one appended. With
// that version's plaintext as zstd's raw dictionary the new page costs
// what changed: on the bench's small change (251 pages) 59 KB against
// 464 KB with the repository's dictionary.
//
// The index entry (compZstdBase) names the base, a data blob, through the
// trailer's dictionary table. A base is never itself compressed on a base,
// so a reader reads at most one more blob, and a chain cannot loop. The
// writer takes a base's plaintext from this machine (the source's copy of
// the page's previous version, checked by its keyed id), never from the
// remote: a page whose previous version is itself on a base is stored on
// its own, and so becomes the next version's base.

// maxBaseBlob bounds the pages compressed on a base, and so the size of
// the base a reader loads for one: the dictionary's range (SQLite pages).
const maxBaseBlob = dictMaxBlob

// baseZstdID is the id the zstd frame carries for base (never 0).
func baseZstdID(base crypt.ID) uint32 {
	return max(binary.LittleEndian.Uint32(base[:4]), 1)
}

// baseWindow is the zstd window of pages on a base: a page and its base
// fit, and each pooled codec stays well under a megabyte.
const baseWindow = 2 * maxBaseBlob

// Codecs for pages on a base, reused: with a new encoder per page the
// bench's small change (251 pages) took 0.79–1.91 s and 160–172 MB peak
// RSS, pooled 0.36 s and less than the first backup's. Each use installs
// its base with ResetWithOptions; zstd rebuilds its tables for a new
// dictionary (it compares the dictionary, not its id).
var (
	baseEncoders = sync.Pool{New: func() any {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
			zstd.WithLowerEncoderMem(true), zstd.WithEncoderCRC(false), zstd.WithWindowSize(baseWindow),
			zstd.WithEncoderDictRaw(1, make([]byte, 8)))
		if err != nil {
			panic(err) // only on invalid static options
		}
		return enc
	}}
	baseDecoders = sync.Pool{New: func() any {
		dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(baseWindow), zstd.WithDecoderMaxMemory(maxBaseBlob+1<<10),
			zstd.WithDecodeAllCapLimit(true))
		if err != nil {
			panic(err)
		}
		return dec
	}}
)

// compressOnBase compresses plain with base (whose id is baseID) as the
// raw dictionary.
func compressOnBase(baseID crypt.ID, base, plain []byte) ([]byte, error) {
	enc := baseEncoders.Get().(*zstd.Encoder)
	defer baseEncoders.Put(enc)
	if err := enc.ResetWithOptions(nil, zstd.WithEncoderDictRaw(baseZstdID(baseID), base)); err != nil {
		return nil, err
	}
	return encodeAll(enc, plain, nil), nil
}

// decompressOnBase reverses compressOnBase, appending to dst no more
// than rawLen bytes (decodeStated); r (nil in tests) hears of a frame
// zprefix failed on.
func (r *Store) decompressOnBase(baseID crypt.ID, base, payload, dst []byte, rawLen uint32) ([]byte, error) {
	zid := baseZstdID(baseID)
	// Through zprefix (dictdecode.go); the pooled decoder only for a
	// frame it does not rewrite or fails on.
	out, rerr := decodeRewritten(zprefix.New(zid, base), payload, dst, rawLen)
	if rerr == nil {
		return out, nil
	}
	dec := baseDecoders.Get().(*zstd.Decoder)
	if err := dec.ResetWithOptions(nil, zstd.WithDecoderDictRaw(zid, base)); err != nil {
		return nil, err
	}
	out, err := decodeStated(dec, payload, dst, rawLen)
	// The base leaves the decoder before it goes back to the pool.
	if derr := dec.ResetWithOptions(nil, zstd.WithDecoderDictDelete(zid)); derr == nil {
		baseDecoders.Put(dec)
	}
	if err == nil {
		r.rewriteFailure(rerr)
	}
	return out, err
}

// sealOnBase seals a new page compressed on base, the plaintext of its
// previous version's blob baseID as found on this machine, when that
// beats the repository's dictionary (or plain zstd); ok is false when it
// does not or base cannot serve, and the caller seals the page as any
// other. base comes from the database's files, not from the repository:
// it serves only when its keyed id is baseID (then it is that blob's
// plaintext, whatever the checkpoints did to the files) and baseID is a
// page the repository holds that is not itself on a base (no chains).
func (r *Store) sealOnBase(id, baseID crypt.ID, base, plain, dst []byte) (out []byte, ok bool) {
	if len(plain) < dictMinBlob || len(plain) > maxBaseBlob || !r.isRoot(baseID, len(base)) {
		return dst, false
	}
	if r.ids.Sum(base) != baseID {
		return dst, false
	}
	// The pooled encoder keeps its dictionary until its next use; base
	// lies in a pooled buffer that another job may fill meanwhile.
	base = bytes.Clone(base)
	payload, err := compressOnBase(baseID, base, plain)
	if err != nil {
		return dst, false
	}
	// What the page would cost otherwise: the dictionary's ratio, or
	// plain zstd's saving of an eighth at best.
	if len(payload) >= r.otherwiseBound(len(plain)) {
		return dst, false
	}
	if !decodesTo(plain, func(b []byte) ([]byte, error) {
		return r.decompressOnBase(baseID, base, payload, b, uint32(len(plain)))
	}) {
		r.spoiledFrame(id, "zstd on the previous version")
		return dst, false
	}
	return r.aead.Seal(dst, payload, crypt.AssociatedData(adBlob, r.cfg.RepoID, id[:])), true
}

// isRoot reports whether the repository holds id as a page of n bytes
// that a new version can be compressed on: a data blob of the base's size
// range, not itself on a base.
func (r *Store) isRoot(id crypt.ID, n int) bool {
	r.mu.RLock()
	loc, ok := r.index.get(id)
	r.mu.RUnlock()
	return ok && loc.entry.Type == blobData && loc.entry.Comp != compZstdBase &&
		int(loc.entry.RawLen) == n && n >= dictMinBlob && n <= maxBaseBlob
}

// otherwiseBound is the compressed size a page of n bytes would likely
// reach without its base: the current dictionary's ratio, measured when
// it was made, or seven eighths without one.
func (r *Store) otherwiseBound(n int) int {
	s := &r.dicts
	s.mu.Lock()
	d := s.cur
	s.mu.Unlock()
	if d == nil || d.ratio == 0 {
		return n - n/8
	}
	return n * int(d.ratio) / 1000
}

// openOnBase decompresses the payload of a blob compressed on a base.
func (r *Store) openOnBase(ctx context.Context, loc blobLoc, payload, dst []byte) ([]byte, error) {
	e, name := loc.entry, loc.d.ref.name()
	base, ok := loc.dict()
	if !ok {
		return nil, integrityErr(name, fmt.Sprintf("blob %s is compressed on a base its trailer does not name", e.ID), nil)
	}
	if e.RawLen > maxBaseBlob {
		return nil, integrityErr(name, fmt.Sprintf("blob %s is compressed on a base but larger than %d bytes", e.ID, maxBaseBlob), nil)
	}
	r.mu.RLock()
	bl, ok := r.index.get(base)
	r.mu.RUnlock()
	if !ok {
		return nil, integrityErr(name, fmt.Sprintf("blob %s was compressed on blob %s, which the repository does not hold", e.ID, base), nil)
	}
	if bl.entry.Type != blobData || bl.entry.Comp == compZstdBase || bl.entry.RawLen > maxBaseBlob {
		return nil, integrityErr(name, fmt.Sprintf("blob %s names blob %s as its base, which cannot be one", e.ID, base), nil)
	}
	// Fetched beforehand by a fetch of many blobs (basefetch.go), else
	// read now.
	bp := fetchedBase(ctx, bl.entry.ID)
	var err error
	if bp == nil {
		bp, err = r.readAt(ctx, bl)
	}
	if err != nil {
		return nil, fmt.Errorf("blob %s in %s needs its base %s: %w", e.ID, name, base, err)
	}
	plain, err := r.decompressOnBase(bl.entry.ID, bp, payload, dst, e.RawLen)
	if err != nil {
		return nil, integrityErr(name, fmt.Sprintf("blob %s does not decompress", e.ID), err)
	}
	return plain, nil
}
