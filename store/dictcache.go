package store

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.uber.org/zap"
)

// A dictionary blob (up to 256 KiB) is needed by every process that reads
// or writes pages: the writer adopts the newest one at each open, and a
// restore needs each one its pages name. The state directory keeps a copy
// of each, sealed as the delta holds it, so a device reads it from the
// remote once rather than once per process. A copy is opened like the
// blob itself (authenticated under its id, decompressed as its index
// entry says, hashed to its keyed id), so a bad one is never used: it is
// read past, from the remote, and replaced.

// dictCachePath is where the local copy of dictionary blob e lives; ""
// without a state directory.
func (r *Store) dictCachePath(e *blobEntry) string {
	if r.dir() == "" {
		return ""
	}
	return filepath.Join(r.dir(), "dicts", e.ID.String())
}

// readDictBlob returns the plaintext of dictionary blob loc, from the
// local copy when there is a good one, else from its delta; a writable
// store then keeps a copy (a read-only one changes nothing locally).
func (r *Store) readDictBlob(ctx context.Context, loc blobLoc) ([]byte, error) {
	p := r.dictCachePath(loc.entry)
	if p != "" {
		if sealed, err := readSealedCopy(p, int64(loc.entry.SealedLen)); err == nil {
			plain, err := r.openBlob(ctx, loc, sealed, nil)
			if err == nil {
				return plain, nil
			}
			r.log.Warn("the local copy of a dictionary does not open; reading it from the remote", zap.String("dictionary", loc.entry.ID.String()), zap.Error(err))
		} else if !os.IsNotExist(err) {
			r.log.Warn("the local copy of a dictionary cannot be read; reading it from the remote", zap.String("path", p), zap.Error(err))
		}
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
	if p != "" && r.Writable() {
		// Best effort: without a copy the next process reads the remote.
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err == nil {
			_ = writeFileAtomic(p, sealed, 0o600)
		}
	}
	return plain, nil
}

// dropDictCopies removes the local copies of the dictionaries before a
// rotation switches the key: sealed under the old key, they would not open
// under the new one and would be reported as damaged. The next reader
// fetches the re-sealed ones from the remote. Best effort: a copy left
// behind is read past, with that warning.
func (r *Store) dropDictCopies() {
	if r.dir() == "" {
		return
	}
	if err := os.RemoveAll(filepath.Join(r.dir(), "dicts")); err != nil {
		r.log.Warn("removing the local copies of the dictionaries", zap.Error(err))
	}
}

// readSealedCopy reads a local copy that must be exactly n bytes: a file
// of another length is not read (its length bounds nothing we trust).
func readSealedCopy(p string, n int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	if k, _ := f.Read(make([]byte, 1)); k != 0 {
		return nil, fmt.Errorf("%s is longer than the blob", p)
	}
	return b, nil
}
