package crypt

import (
	"encoding/hex"
	"sync"

	"github.com/zeebo/blake3"
)

// ID is a keyed content id: BLAKE3 keyed with a Subkey(PurposeBlobID), so the
// remote cannot confirm a guessed content by hashing it.
type ID [32]byte

// String returns the id as 64 lowercase hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IDHasher computes keyed BLAKE3 ids. It is safe for concurrent use; Sum does
// not allocate in the steady state.
type IDHasher struct {
	// pool holds keyed hashers; Reset keeps the key, so a pooled hasher is
	// reused without re-keying (a blake3 hasher is several KiB of state).
	pool sync.Pool
}

// NewIDHasher returns an IDHasher keyed with key, normally
// Key.Subkey(PurposeBlobID).
func NewIDHasher(key [32]byte) *IDHasher {
	tmpl, err := blake3.NewKeyed(key[:])
	if err != nil {
		// NewKeyed fails only for a key that is not 32 bytes; the array type
		// rules that out, so this is a broken invariant, not bad input.
		panic("crypt: blake3 refused a 32-byte key: " + err.Error())
	}
	h := &IDHasher{}
	h.pool.New = func() any { return tmpl.Clone() }
	return h
}

// Sum returns the keyed BLAKE3-256 of data.
func (h *IDHasher) Sum(data []byte) ID {
	bh := h.pool.Get().(*blake3.Hasher)
	bh.Reset()
	_, _ = bh.Write(data) // never fails
	var id ID
	bh.Sum(id[:0])
	h.pool.Put(bh)
	return id
}
