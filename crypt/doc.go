// Package crypt owns chatsafe's key material: the random 256-bit backup key,
// its 64-digit recovery-key encoding, the HKDF-SHA256 subkeys derived from it
// (one per purpose), AEAD sealing (XChaCha20-Poly1305 or XAES-256-GCM) with unambiguous
// associated data, keyed BLAKE3 content ids, HMAC-SHA256, and the local key
// cache file.
//
// Nothing in this package logs, and no error it returns contains key bytes,
// a recovery key or the content of a secret file.
package crypt
