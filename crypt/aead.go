package crypt

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/crypto/chacha20poly1305"
)

// Overhead is how many bytes Seal adds: a 24-byte random nonce in front and a
// 16-byte Poly1305 tag at the end.
const Overhead = chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead

// ErrAuth is wrapped by every Open failure: wrong key, wrong associated data,
// a modified or truncated message. The cases are deliberately not told apart.
var ErrAuth = errors.New("message authentication failed")

// AEAD seals and opens messages with XChaCha20-Poly1305 and a random 24-byte
// nonce per message (random nonces of this size never collide in practice,
// so one key can seal an unbounded number of messages). Sealed form:
// nonce(24) || ciphertext || tag(16). It is safe for concurrent use.
type AEAD struct {
	aead cipher.AEAD
}

// NewAEAD returns an AEAD under key, normally a Subkey.
func NewAEAD(key [32]byte) *AEAD {
	a, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		// NewX fails only for a key that is not 32 bytes; the array type
		// rules that out, so this is a broken invariant, not bad input.
		panic("crypt: XChaCha20-Poly1305 refused a 32-byte key: " + err.Error())
	}
	return &AEAD{aead: a}
}

// Seal encrypts and authenticates plaintext bound to ad, appends
// nonce||ciphertext||tag to dst and returns the extended slice.
// dst must not overlap plaintext.
func (a *AEAD) Seal(dst, plaintext, ad []byte) []byte {
	start := len(dst)
	dst = slices.Grow(dst, Overhead+len(plaintext))
	dst = dst[:start+chacha20poly1305.NonceSizeX]
	nonce := dst[start:]
	// crypto/rand.Read never returns an error (Go 1.24+); it aborts the
	// program if the system random source is broken.
	_, _ = rand.Read(nonce)
	return a.aead.Seal(dst, nonce, plaintext, ad)
}

// Open checks and decrypts a message made by Seal with the same key and ad,
// appends the plaintext to dst and returns the extended slice. Every failure
// (too short, wrong key, wrong ad, any modified byte) returns an error
// wrapping ErrAuth. dst must not overlap sealed.
func (a *AEAD) Open(dst, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("sealed data is %d bytes, shorter than the %d-byte minimum: %w", len(sealed), Overhead, ErrAuth)
	}
	nonce, ct := sealed[:chacha20poly1305.NonceSizeX], sealed[chacha20poly1305.NonceSizeX:]
	out, err := a.aead.Open(dst, nonce, ct, ad)
	if err != nil {
		return nil, fmt.Errorf("sealed data was modified, or sealed with another key or for another place: %w", ErrAuth)
	}
	return out, nil
}

// adPrefix versions the associated-data layout.
const adPrefix = "chatsafe/v1"

// AssociatedData binds a sealed piece to its kind, its repository and its id:
//
//	"chatsafe/v1" || uvarint(len(kind)) || kind || repoID (16 bytes) || uvarint(len(id)) || id
//
// Every field has a fixed size or a length prefix, so different
// (kind, repoID, id) never give equal bytes.
func AssociatedData(kind string, repoID [16]byte, id []byte) []byte {
	b := make([]byte, 0, len(adPrefix)+2*binary.MaxVarintLen64+len(kind)+len(repoID)+len(id))
	b = append(b, adPrefix...)
	b = binary.AppendUvarint(b, uint64(len(kind)))
	b = append(b, kind...)
	b = append(b, repoID[:]...)
	b = binary.AppendUvarint(b, uint64(len(id)))
	b = append(b, id...)
	return b
}
