package store

import (
	"fmt"
	"io"

	"github.com/chatsafe/chatsafe/crypt"
)

// Caps on every length a remote states before anything it sent has been
// authenticated. The cloud is the adversary: a length it reports (a
// listing's size, a footer's trailer length, a config object) is only a
// claim, and reading or allocating by it would let the cloud exhaust the
// client's memory. Each cap lies well above what chatsafe ever writes, and
// the writer refuses to exceed it. docs/format.md lists them.
const (
	// maxTrailerSize bounds a sealed trailer. A trailer holds at most
	// maxDeltaBlobs index entries of at most 44 bytes each, plus the live
	// delta references and snapshot records (tens of bytes each); the
	// writer cuts a delta of pages on bases (each base 32 more bytes in
	// the table) before its trailer nears the cap (deltaWriter.full).
	maxTrailerSize = 64 << 20

	// maxDeltaBlobs bounds the blobs of one delta; the writer starts the
	// next delta when one reaches it, as it does at the size cap, so the
	// trailer stays under maxTrailerSize.
	maxDeltaBlobs = 1 << 20

	// maxIndexEntry bounds one blob's entry in a trailer's index.
	maxIndexEntry = 44

	// maxDeltaSize bounds the size a listing may give a delta that is
	// opened: the writer's size cap (256 MiB) plus one blob, the trailer
	// and the padding come nowhere near it.
	maxDeltaSize = 16 << 30

	// maxConfigSize bounds the config object (about 110 bytes in format 1).
	maxConfigSize = 4 << 10

	// dictContentMax bounds a dictionary's content and maxDictBlob its
	// blob (the content and a few header bytes): a reader refuses a
	// larger one before reading it, and keeps at most maxDictDecoders.
	dictContentMax = 256 << 10
	maxDictBlob    = dictContentMax + 64

	// maxRangeRead bounds one ranged read of a delta: a trailer, or a blob
	// (at most maxBlobSize plus the seal's overhead), or merged neighbours
	// (at most mergeLimit).
	maxRangeRead = max(maxTrailerSize, maxBlobSize+crypt.Overhead, mergeLimit)
)

// readConfigObject reads a config object of at most maxConfigSize bytes.
// A longer one is not a chatsafe config: an integrity failure, not a
// reason to read on.
func readConfigObject(rc io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(rc, maxConfigSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxConfigSize {
		return nil, integrityErr(configName, fmt.Sprintf("is larger than the format's limit of %d bytes", maxConfigSize), nil)
	}
	return b, nil
}
