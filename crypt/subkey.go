package crypt

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
)

// Purpose labels one HKDF-SHA256 subkey of the backup key. Its HKDF info
// label is "chatsafe/v1/" + string(p), so two purposes never share a key.
type Purpose string

// The purposes chatsafe derives subkeys for. Changing a value changes every
// derived key and breaks existing repositories.
const (
	PurposeBlobID     Purpose = "blob-id"           // keyed BLAKE3 key for content ids
	PurposeSeal       Purpose = "seal"              // XChaCha20-Poly1305 key for the config, and the objects of a repository on that cipher
	PurposeSealXAES   Purpose = "seal-xaes-256-gcm" // XAES-256-GCM key for the objects of a repository on that cipher (config version 3)
	PurposeKeyCheck   Purpose = "key-check"         // MAC that tells a wrong key from a tampered config
	PurposeOwnerToken Purpose = "vault-owner"       // proof of the backup key to the vault
	PurposeState      Purpose = "state"             // AEAD key for local state files
)

// labelPrefix versions every derivation so a future format can change them all.
const labelPrefix = "chatsafe/v1/"

// Subkey derives the 32-byte subkey for purpose p:
// HKDF-SHA256(secret = k, salt = nil, info = "chatsafe/v1/" + p).
func (k Key) Subkey(p Purpose) [32]byte {
	b, err := hkdf.Key(sha256.New, k[:], nil, labelPrefix+string(p), 32)
	if err != nil {
		// hkdf.Key fails only for an output longer than 255*32 bytes; 32 is a
		// constant, so this is a broken invariant, not bad input.
		panic("crypt: HKDF-SHA256 refused a 32-byte output: " + err.Error())
	}
	var out [32]byte
	copy(out[:], b)
	clear(b)
	return out
}

// MAC returns HMAC-SHA256(key, data). It is used for the key-check value and
// the vault owner token; compare MACs with hmac.Equal, never with ==.
func MAC(key [32]byte, data []byte) [32]byte {
	m := hmac.New(sha256.New, key[:])
	m.Write(data)
	var out [32]byte
	m.Sum(out[:0])
	return out
}
