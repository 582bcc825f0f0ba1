package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/remotes"
)

// tailRead is how much of a delta's end is fetched in one request when
// looking for its trailer; most trailers fit.
const tailRead = 256 << 10

// readRange reads length bytes at off from a delta, preferring the local
// spool copy when there is one.
func (r *Store) readRange(ctx context.Context, d *delta, off, length int64) ([]byte, error) {
	name := d.ref.name()
	// Callers pass lengths from authenticated indexes or capped footers;
	// this is the last line against a length that slipped through.
	if length < 0 || length > maxRangeRead || off < 0 {
		return nil, integrityErr(name, fmt.Sprintf("a read of %d bytes at %d is beyond the format's limits", length, off), nil)
	}
	if d.spoolPath != "" {
		f, err := os.Open(d.spoolPath)
		if err == nil {
			defer f.Close()
			buf := getRangeBuf(length)
			if _, err := f.ReadAt(buf, off); err != nil {
				putRangeBuf(buf)
				return nil, spoolDamage(name, "its spooled copy could not be read whole", err)
			}
			return buf, nil
		}
		// A read-only open (beside the daemon) saw the delta in the
		// spool; the writer has uploaded it and removed the copy since,
		// so it is on the remote now.
		gone := r.opts.ReadOnly && errors.Is(err, fs.ErrNotExist)
		if !d.onRemote && !gone {
			return nil, fmt.Errorf("reading spooled delta %s: %w", name, err)
		}
	}
	buf := getRangeBuf(length)
	if err := getFull(ctx, r.remote, name, off, buf); err != nil {
		putRangeBuf(buf)
		return nil, err
	}
	return buf, nil
}

// getFull fills buf with the bytes of name at off on rem; a download that
// ends early is told apart by shortRead, and a read the remote refuses
// (remotes.ErrPermanent: it starts past the object's end) is damage when
// the object is shorter than the read.
func getFull(ctx context.Context, rem remotes.Remote, name string, off int64, buf []byte) error {
	end := off + int64(len(buf))
	rc, err := rem.Get(ctx, name, off, int64(len(buf)))
	if err != nil {
		// A read that starts past the object's end is refused, not cut
		// short: damage too when the object is shorter than the read.
		if errors.Is(err, remotes.ErrPermanent) && ctx.Err() == nil {
			if info, serr := rem.Stat(ctx, name); serr == nil && info.Size < end {
				return shorterErr(name, info.Size, end)
			}
		}
		return fmt.Errorf("reading %s from %s: %w", name, rem, err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return shortRead(ctx, rem, name, end, err)
		}
		return fmt.Errorf("reading %s from %s: %w", name, rem, err)
	}
	return nil
}

// shortRead says what a read of name on rem that ended before end was. A
// network remote's answer ends early both when the object is shorter than
// its index or listing says (damage) and when the connection drops (the
// remote out of reach, to retry), and the transport's error reads the same
// for both: the object's size tells them apart. One that went missing
// meanwhile is an integrity failure that wraps remotes.ErrNotFound: a
// caller for which a delta gone is no damage (another device's, on a
// remote it does not read) can tell.
func shortRead(ctx context.Context, rem remotes.Remote, name string, end int64, readErr error) error {
	info, err := rem.Stat(ctx, name)
	switch {
	case errors.Is(err, remotes.ErrNotFound):
		return integrityErr(name, "went missing from the remote while it was read", err)
	case err != nil:
		return fmt.Errorf("reading %s from %s: the download ended early (%w), and asking its size failed: %w", name, rem, readErr, err)
	case info.Size < end:
		return shorterErr(name, info.Size, end)
	case errors.Is(readErr, remotes.ErrUnreachable):
		return fmt.Errorf("reading %s from %s: the download ended early: %w", name, rem, readErr)
	}
	return fmt.Errorf("reading %s from %s: the download ended early: %w: %w", name, rem, remotes.ErrUnreachable, readErr)
}

// shorterErr is the damage of name, size bytes long, read up to end.
func shorterErr(name string, size, end int64) error {
	return integrityErr(name, fmt.Sprintf("is shorter than its index or listing says (%d bytes, a read of it ends at %d)", size, end), nil)
}

// Range buffers are reused: restore and check read thousands of ranges of
// up to mergeLimit bytes, and fresh buffers for each drove the peak RSS.
// A free list per size rather than a sync.Pool: under the CLI's soft
// memory limit the collector runs several times a second, and each run
// emptied the pool (143 MB of new buffers in a --full restore). Sizes
// come in a few classes so that a small range (a small file's only blob)
// does not pin a buffer of mergeLimit; each list keeps at most 6 MiB but the
// largest class's, which keeps four buffers (~8.3 MiB).
//
// The largest class holds a range of one media chunk (2 MiB,
// source.MediaChunk, and its seal): a media file's chunks are all that
// size, and fresh buffers for each cost a restore about a third more CPU,
// in the collector and in page faults (docs/benchmarks.md, "Media at fixed
// offsets"). Its list keeps four: fetchBudget lets two such ranges be in
// flight, each a read and its plaintext; with two kept, half were made
// afresh.
var bufClasses = [...]int{64 << 10, 256 << 10, mergeLimit, bigBuf + 64<<10}

var bufLists = func() (l [len(bufClasses)]freeList[[]byte]) {
	for i, c := range bufClasses {
		l[i] = newFreeList[[]byte](max(2, (6<<20)/c))
	}
	l[len(l)-1] = newFreeList[[]byte](4)
	return l
}()

// bufClass is the index of the smallest class holding n bytes, or -1.
func bufClass(n int64) int {
	for i, c := range bufClasses {
		if n <= int64(c) {
			return i
		}
	}
	return -1
}

// pinnedBytes is the capacity getRangeBuf(n) hands out.
func pinnedBytes(n int64) int64 {
	if i := bufClass(n); i >= 0 {
		return int64(bufClasses[i])
	}
	return n
}

func getRangeBuf(n int64) []byte {
	i := bufClass(n)
	if i < 0 {
		return make([]byte, n)
	}
	if b, ok := bufLists[i].get(); ok {
		return b[:n]
	}
	return make([]byte, n, bufClasses[i])
}

// putRangeBuf returns a buffer from getRangeBuf once nothing refers to it.
func putRangeBuf(b []byte) {
	if i := bufClass(int64(cap(b))); i >= 0 && cap(b) == bufClasses[i] {
		bufLists[i].put(b[:0])
	}
}

// freeList keeps up to its capacity of values for reuse. Unlike a
// sync.Pool, a collection does not empty it, and what it holds is bounded.
type freeList[T any] struct{ c chan T }

func newFreeList[T any](n int) freeList[T] { return freeList[T]{c: make(chan T, n)} }

// get returns a kept value, or ok false when there is none.
func (f freeList[T]) get() (v T, ok bool) {
	select {
	case v = <-f.c:
		return v, true
	default:
		return v, false
	}
}

// put keeps v unless the list is full.
func (f freeList[T]) put(v T) {
	select {
	case f.c <- v:
	default:
	}
}

// readTrailer fetches, authenticates and decodes a delta's trailer, and
// checks that the delta's blobs exactly fill the object.
func (r *Store) readTrailer(ctx context.Context, d *delta) ([]byte, *trailer, error) {
	if sealed := r.cachedTrailer(d); sealed != nil && !r.distrust[d.ref.name()] {
		plain, t, err := r.verifyTrailer(d, sealed)
		if err == nil {
			return plain, t, nil
		}
		// A damaged local cache is rebuilt from the remote (by a writer:
		// a read-only store only reads past it).
		// One of a newer format (ErrUnsupported) is read again too: the
		// remote's copy then says the same, as the error to report.
		r.log.Warn("discarding a cached trailer it cannot use", zap.String("delta", d.ref.name()), zap.Error(err))
		if !r.opts.ReadOnly {
			os.Remove(r.trailerCachePath(d))
		}
	}
	return r.readTrailerUncached(ctx, d)
}

// readTrailerUncached reads and authenticates d's trailer from where d is
// stored (the spool, else the remote), never from the local cache.
func (r *Store) readTrailerUncached(ctx context.Context, d *delta) ([]byte, *trailer, error) {
	name := d.ref.name()
	if d.size > maxDeltaSize {
		return nil, nil, integrityErr(name, fmt.Sprintf("is listed with %d bytes, more than the format's limit of %d", d.size, int64(maxDeltaSize)), nil)
	}
	sealed, err := sealedTrailerFrom(name, d.size, func(off, n int64) ([]byte, error) { return r.readRange(ctx, d, off, n) })
	if err != nil {
		return nil, nil, err
	}
	plain, t, err := r.verifyTrailer(d, sealed)
	if err != nil {
		return nil, nil, err
	}
	r.storeTrailerCache(d, sealed)
	return plain, t, nil
}

// sealedTrailerFrom reads the sealed trailer of the delta name, size
// bytes long, through readAt: the footer from the last tailRead bytes (the
// trailer too, when it fits there), else the trailer in a second read.
// The footer's length is the remote's claim until the trailer opens: it is
// capped before anything is read or allocated by it. A delta too short or
// with a bad footer is an *IntegrityError.
func sealedTrailerFrom(name string, size int64, readAt func(off, n int64) ([]byte, error)) ([]byte, error) {
	if err := holdsFooter(name, size); err != nil {
		return nil, err
	}
	n := min(size, tailRead)
	tail, err := readAt(size-n, n)
	if err != nil {
		return nil, err
	}
	tlen, err := trailerLen(name, size, tail[len(tail)-footerSize:])
	if err != nil {
		return nil, err
	}
	if tlen+footerSize <= len(tail) {
		return tail[len(tail)-footerSize-tlen : len(tail)-footerSize], nil
	}
	return readAt(size-int64(footerSize)-int64(tlen), int64(tlen))
}

// holdsFooter fails for a delta of size bytes too short for a footer and
// a sealed trailer, before anything is read at its end.
func holdsFooter(name string, size int64) error {
	if size < int64(footerSize)+crypt.Overhead {
		return integrityErr(name, fmt.Sprintf("is truncated (%d bytes)", size), nil)
	}
	return nil
}

// trailerLen is the sealed trailer's length a delta of size bytes claims
// in its footer, checked against the format's limit and the object.
func trailerLen(name string, size int64, footer []byte) (int, error) {
	tlen, ok := decodeFooter(footer)
	if !ok {
		return 0, integrityErr(name, "has no valid footer (truncated or not a chatsafe delta)", nil)
	}
	if tlen > maxTrailerSize {
		return 0, integrityErr(name, fmt.Sprintf("footer claims a %d-byte trailer, more than the format's limit of %d", tlen, maxTrailerSize), nil)
	}
	if int64(tlen) > size-int64(footerSize) || tlen < crypt.Overhead {
		return 0, integrityErr(name, "footer gives an impossible trailer length", nil)
	}
	return tlen, nil
}

func (r *Store) verifyTrailer(d *delta, sealed []byte) ([]byte, *trailer, error) {
	name := d.ref.name()
	plain, err := r.aead.Open(nil, sealed, crypt.AssociatedData(adTrailer, r.cfg.RepoID, d.ref.ID[:]))
	if err != nil {
		return nil, nil, integrityErr(name, "trailer cannot be authenticated (damaged, or from another repository)", err)
	}
	t, err := decodeTrailer(plain)
	if errors.Is(err, ErrUnsupported) {
		// It authenticates: a newer chatsafe wrote it, nothing is damaged
		// (a repair would cut good history at it).
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	if err != nil {
		return nil, nil, integrityErr(name, "trailer is malformed", err)
	}
	if t.ID != d.ref.ID || t.Seq != d.ref.Seq {
		return nil, nil, integrityErr(name, fmt.Sprintf("trailer says it is delta %x with sequence %d (renamed or replayed)", t.ID, t.Seq), nil)
	}
	accounted, tiled := objectSize(t, len(sealed))
	if !tiled {
		return nil, nil, integrityErr(name, "blobs do not tile the object", nil)
	}
	if accounted != d.size {
		return nil, nil, integrityErr(name, fmt.Sprintf("has %d bytes, its index accounts for %d", d.size, accounted), nil)
	}
	return plain, t, nil
}

// objectSize is the size of the delta object trailer t, sealedLen bytes
// sealed, accounts for: its blobs, padding, trailer and footer; tiled
// says whether the blobs lie end to end from the object's start.
func objectSize(t *trailer, sealedLen int) (size int64, tiled bool) {
	var end uint64
	tiled = true
	for i := range t.Blobs {
		if t.Blobs[i].isMember() {
			continue // a slice of its group's plaintext, not of the object
		}
		tiled = tiled && t.Blobs[i].Offset == end
		end += uint64(t.Blobs[i].SealedLen)
	}
	return int64(end) + int64(t.Padding) + int64(sealedLen) + int64(footerSize), tiled
}

// The trailer cache keeps sealed trailers of remote deltas so that opening
// the repository costs one listing, not a request per delta. Entries are
// authenticated on use like anything read from the remote.
func (r *Store) trailerCachePath(d *delta) string {
	if r.dir() == "" || d.spoolPath != "" {
		return ""
	}
	return filepath.Join(r.dir(), "trailers", filepath.Base(d.ref.name()))
}

func (r *Store) cachedTrailer(d *delta) []byte {
	p := r.trailerCachePath(d)
	if p == "" {
		return nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	return b
}

func (r *Store) storeTrailerCache(d *delta, sealed []byte) {
	if p, ok := r.trailerCacheTarget(d); ok {
		_ = writeFileAtomic(p, sealed, 0o600)
	}
}

// trailerCacheTarget is where d's trailer goes in the cache, its
// directory made; false when it has no place there (a spooled delta, a
// read-only or in-memory store) or is there already.
func (r *Store) trailerCacheTarget(d *delta) (string, bool) {
	p := r.trailerCachePath(d)
	if p == "" || r.opts.ReadOnly {
		return "", false
	}
	if _, err := os.Stat(p); err == nil {
		return "", false
	}
	_ = os.MkdirAll(filepath.Dir(p), 0o700)
	return p, true
}

// cacheSpooledTrailer copies the sealed trailer of f, d's spool file of
// size bytes, into the trailer cache once d has left the spool. It copies
// through a small buffer rather than reading the trailer whole: a large
// database's trailer is ~37 bytes a page (~10 MB for a 1 GB database),
// and the daemon uploads at the end of a cycle, while that cycle's own
// buffers are still live (docs/benchmarks.md, "The daemon's peak RSS on a
// 10 GB tree"). The trailer is not opened here: the cache is authenticated
// on use, like anything read from the remote.
func (r *Store) cacheSpooledTrailer(d *delta, f *os.File, size int64) error {
	p, ok := r.trailerCacheTarget(d)
	if !ok {
		return nil
	}
	name := d.ref.name()
	if err := holdsFooter(name, size); err != nil {
		return err
	}
	footer := make([]byte, footerSize)
	if _, err := f.ReadAt(footer, size-int64(footerSize)); err != nil {
		return fmt.Errorf("reading the footer of spooled %s: %w", name, err)
	}
	tlen, err := trailerLen(name, size, footer)
	if err != nil {
		return err
	}
	section := io.NewSectionReader(f, size-int64(footerSize)-int64(tlen), int64(tlen))
	return writeFileAtomicFrom(p, 0o600, func(w io.Writer) error {
		// CopyN: a file shorter than its footer says fails, not cached short.
		if _, err := io.CopyN(w, section, int64(tlen)); err != nil {
			return fmt.Errorf("copying the trailer of spooled %s: %w", name, err)
		}
		return nil
	})
}

// readBlob fetches, authenticates, decompresses and verifies one blob.
func (r *Store) readBlob(ctx context.Context, id crypt.ID) ([]byte, BlobType, error) {
	r.mu.RLock()
	loc, ok := r.index.get(id)
	r.mu.RUnlock()
	if !ok {
		return nil, 0, integrityErr("index", fmt.Sprintf("blob %s is referenced but stored nowhere", id), nil)
	}
	plain, err := r.readAt(ctx, loc)
	return plain, loc.entry.Type, err
}

// readAt fetches, authenticates, decompresses and verifies the blob at loc
// on its own, and returns its plaintext in a buffer of its own.
func (r *Store) readAt(ctx context.Context, loc blobLoc) ([]byte, error) {
	if loc.entry.isMember() {
		return r.readMember(ctx, loc)
	}
	sealed, err := r.readRange(ctx, loc.d, int64(loc.entry.Offset), int64(loc.entry.SealedLen))
	if err != nil {
		return nil, err
	}
	defer putRangeBuf(sealed)
	plain, err := r.openBlob(ctx, loc, sealed, nil)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(plain), nil
}
