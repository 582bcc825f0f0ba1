package store

import (
	"bytes"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/crypt"
)

// Every compressed payload is decoded again before it is sealed and
// stored only when it gives back exactly its input; otherwise the blob is
// stored another way (without its dictionary or base, or uncompressed). A
// frame stored wrong would be lost for good: dedup never writes its id
// again, so every later snapshot shares it, and only a restore or check
// --read-data would find it. Compressors have had such bugs
// (klauspost/compress v1.20.4 fixed one, docs/benchmarks.md); restic
// checks its blobs before upload for the same reason. The seal is not
// opened again: the AEAD comes from Go's standard and x/crypto libraries,
// and a restore verifies its tag anyway.

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

// checkBufs are the buffers frames are decoded into to be compared. Most
// frames are a group (maxGroupPlain at most) or less; a buffer grown for
// a larger blob (a big tree or list) is not kept, so what the pool holds
// stays within a group's size per sealing goroutine, for the peak RSS.
var checkBufs = sync.Pool{New: func() any { return new([]byte) }}

const maxCheckBuf = maxGroupPlain

// decodesTo reports whether decode (appending to dst what a payload
// decodes to) gives back exactly plain.
func decodesTo(plain []byte, decode func(dst []byte) ([]byte, error)) bool {
	bp := checkBufs.Get().(*[]byte)
	out, err := decode((*bp)[:0])
	ok := err == nil && bytes.Equal(out, plain)
	if err == nil && cap(out) <= maxCheckBuf {
		*bp = out[:0]
	}
	checkBufs.Put(bp)
	return ok
}

// frameDecodesTo reports whether payload decodes with dec to exactly plain.
func frameDecodesTo(dec *zstd.Decoder, payload, plain []byte) bool {
	return decodesTo(plain, func(dst []byte) ([]byte, error) {
		return decodeStated(dec, payload, dst, uint32(len(plain)))
	})
}

// spoiledWarnEvery spaces the warnings about spoiled frames: a bug in the
// compressor spoils many, and the daemon keeps one Store for days, over
// which a machine's memory may start failing.
const spoiledWarnEvery = time.Hour

// spoiledFrame notes a frame that did not decode to its input (the blob
// is stored another way): a warning at most once per spoiledWarnEvery,
// with the count so far, the rest at debug.
func (r *Store) spoiledFrame(id crypt.ID, how string) {
	msg := "a compressed blob did not decode back to its contents; it is stored another way (a bug in the compressor or the decoder, or this machine's memory)"
	n := r.spoiled.Add(1)
	r.warnSpaced(&r.spoiledWarned, msg, zap.Int64("spoiled_so_far", n), zap.Stringer("blob", id), zap.String("compression", how))
}

// warnSpaced logs msg as a warning if none went out through warned (the
// Unix nanoseconds of the last) for spoiledWarnEvery, else at debug;
// count, the occurrences so far, goes with the warning only.
func (r *Store) warnSpaced(warned *atomic.Int64, msg string, count zap.Field, fields ...zap.Field) {
	now := time.Now().UnixNano()
	last := warned.Load()
	if (last == 0 || now-last >= int64(spoiledWarnEvery)) && warned.CompareAndSwap(last, now) {
		r.log.Warn(msg, append(fields, count)...)
		return
	}
	r.log.Debug(msg, fields...)
}
