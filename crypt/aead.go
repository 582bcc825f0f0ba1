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
// 16-byte tag at the end, under either cipher.
const Overhead = nonceSize + tagSize

const (
	nonceSize = chacha20poly1305.NonceSizeX
	tagSize   = chacha20poly1305.Overhead
)

// ErrAuth is wrapped by every Open failure: wrong key, wrong associated data,
// a modified or truncated message. The cases are deliberately not told apart.
var ErrAuth = errors.New("message authentication failed")

// ErrUnknownCipher is returned for a Cipher value this chatsafe does not know.
var ErrUnknownCipher = errors.New("unknown cipher")

// Cipher names the AEAD that seals a repository's objects. The values are
// stored in the repository's config (docs/format.md, "config"): never
// renumber them.
type Cipher uint8

const (
	// XChaCha20Poly1305 is every repository's cipher before config
	// version 3, and new ones' where Go's AES-GCM is software
	// (PreferredCipher).
	XChaCha20Poly1305 Cipher = 1
	// XAES256GCM is XAES-256-GCM (xaes.go): AES-256-GCM with a 24-byte
	// random nonce, faster on large messages where AES-GCM runs on the
	// CPU (docs/format.md, "Sealing", says what was measured).
	XAES256GCM Cipher = 2
)

// Ciphers lists every cipher this package knows.
func Ciphers() []Cipher { return []Cipher{XChaCha20Poly1305, XAES256GCM} }

func (c Cipher) String() string {
	switch c {
	case XChaCha20Poly1305:
		return "XChaCha20-Poly1305"
	case XAES256GCM:
		return "XAES-256-GCM"
	}
	return fmt.Sprintf("cipher %d", uint8(c))
}

// PreferredCipher is the cipher a new repository (or a key rotation) uses
// on this machine: XAES-256-GCM where Go's AES-GCM runs on the CPU's AES
// and carry-less multiplication instructions (constant time, and faster
// than ChaCha20), by crypto/tls's own "AES-GCM hardware support" rule;
// XChaCha20-Poly1305 elsewhere, where Go's AES is software, slower, and
// not constant time (crypto/aes says so). aesGCMHardware (preferred_*.go)
// is that rule for the build's GOARCH.
func PreferredCipher() Cipher {
	if aesGCMHardware() {
		return XAES256GCM
	}
	return XChaCha20Poly1305
}

// AEAD seals and opens messages with a random 24-byte nonce per message
// (random nonces of this size never collide in practice, so one key can
// seal an unbounded number of messages), under XChaCha20-Poly1305 or
// XAES-256-GCM. Sealed form: nonce(24) || ciphertext || tag(16). It is
// safe for concurrent use.
type AEAD struct {
	aead   cipher.AEAD
	cipher Cipher
}

// Cipher says which cipher a seals with.
func (a *AEAD) Cipher() Cipher { return a.cipher }

// NewAEAD returns an XChaCha20-Poly1305 AEAD under key.
func NewAEAD(key [32]byte) *AEAD {
	a, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		// NewX fails only for a key that is not 32 bytes; the array type
		// rules that out, so this is a broken invariant, not bad input.
		panic("crypt: XChaCha20-Poly1305 refused a 32-byte key: " + err.Error())
	}
	return &AEAD{aead: a, cipher: XChaCha20Poly1305}
}

// NewCipherAEAD returns an AEAD of cipher c under key; an unknown c gives
// an error wrapping ErrUnknownCipher.
func NewCipherAEAD(c Cipher, key [32]byte) (*AEAD, error) {
	switch c {
	case XChaCha20Poly1305:
		return NewAEAD(key), nil
	case XAES256GCM:
		return &AEAD{aead: newXAES256GCM(key), cipher: XAES256GCM}, nil
	}
	return nil, fmt.Errorf("%v: %w", c, ErrUnknownCipher)
}

// SealAEAD returns the AEAD that seals a repository's objects under k with
// cipher c. Each cipher has its own subkey (purposes "seal" and
// "seal-xaes-256-gcm"), so no key is ever used with two algorithms.
func (k Key) SealAEAD(c Cipher) (*AEAD, error) {
	p := PurposeSeal
	if c == XAES256GCM {
		p = PurposeSealXAES
	}
	sk := k.Subkey(p)
	defer clear(sk[:])
	return NewCipherAEAD(c, sk)
}

// Seal encrypts and authenticates plaintext bound to ad, appends
// nonce||ciphertext||tag to dst and returns the extended slice.
// dst must not overlap plaintext.
func (a *AEAD) Seal(dst, plaintext, ad []byte) []byte {
	start := len(dst)
	dst = slices.Grow(dst, Overhead+len(plaintext))
	dst = dst[:start+nonceSize]
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
	nonce, ct := sealed[:nonceSize], sealed[nonceSize:]
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
