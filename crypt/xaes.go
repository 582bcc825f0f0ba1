package crypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"errors"
)

// xaes256GCM is XAES-256-GCM (C2SP, https://c2sp.org/XAES-256-GCM): a
// 24-byte nonce whose first 12 bytes, with the key, derive a fresh
// AES-256-GCM key (NIST SP 800-108r1 counter KDF over CMAC-AES-256, two
// blocks), and whose last 12 bytes are that key's GCM nonce. Random nonces
// are then as safe as XChaCha20-Poly1305's, with the AES and GHASH
// instructions of the CPU. It implements cipher.AEAD and, like the
// ciphers it is built of, is safe for concurrent use.
type xaes256GCM struct {
	block cipher.Block // AES-256 under the long-term key
	k1    [aes.BlockSize]byte
}

const (
	xaesNonceSize = 24
	xaesTagSize   = 16
)

func newXAES256GCM(key [32]byte) *xaes256GCM {
	b, err := aes.NewCipher(key[:])
	if err != nil {
		// aes.NewCipher fails only for a key of another length.
		panic("crypt: AES refused a 32-byte key: " + err.Error())
	}
	x := &xaes256GCM{block: b}
	// K1 is CMAC's first subkey: L = AES(0^128) doubled in GF(2^128).
	var l [aes.BlockSize]byte
	b.Encrypt(l[:], l[:])
	carry := l[0] >> 7
	for i := range aes.BlockSize - 1 {
		x.k1[i] = l[i]<<1 | l[i+1]>>7
	}
	x.k1[aes.BlockSize-1] = l[aes.BlockSize-1]<<1 ^ carry*0x87
	return x
}

func (x *xaes256GCM) NonceSize() int { return xaesNonceSize }
func (x *xaes256GCM) Overhead() int  { return xaesTagSize }

// gcm returns AES-256-GCM under the key derived from the nonce's first
// half: AES(K1 ⊕ M1) ‖ AES(K1 ⊕ M2), Mi = 0x00 ‖ i ‖ "X" ‖ 0x00 ‖ N[:12]
// (the CMAC of a single complete block is that block ⊕ K1, enciphered).
func (x *xaes256GCM) gcm(nonce []byte) cipher.AEAD {
	// One array, enciphered in place into the key: what is passed to the
	// Block interface goes to the heap, so one allocation, not three.
	var k [2 * aes.BlockSize]byte
	k[1], k[2], k[17], k[18] = 1, 'X', 2, 'X'
	copy(k[4:16], nonce[:12])
	copy(k[20:32], nonce[:12])
	subtle.XORBytes(k[:16], k[:16], x.k1[:])
	subtle.XORBytes(k[16:], k[16:], x.k1[:])
	x.block.Encrypt(k[:16], k[:16])
	x.block.Encrypt(k[16:], k[16:])
	b, err := aes.NewCipher(k[:])
	clear(k[:])
	if err != nil {
		panic("crypt: AES refused a 32-byte key: " + err.Error())
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		// Only a block size other than 16 makes NewGCM fail.
		panic("crypt: GCM refused AES: " + err.Error())
	}
	return g
}

// Seal appends the encryption of plaintext, authenticated with ad, and its
// 16-byte tag to dst. nonce must be 24 bytes.
func (x *xaes256GCM) Seal(dst, nonce, plaintext, ad []byte) []byte {
	if len(nonce) != xaesNonceSize {
		panic("crypt: XAES-256-GCM needs a 24-byte nonce")
	}
	return x.gcm(nonce).Seal(dst, nonce[12:], plaintext, ad)
}

var errXAESOpen = errors.New("crypt: XAES-256-GCM message authentication failed")

// Open authenticates and decrypts ciphertext (with its tag) and appends the
// plaintext to dst.
func (x *xaes256GCM) Open(dst, nonce, ciphertext, ad []byte) ([]byte, error) {
	if len(nonce) != xaesNonceSize {
		return nil, errXAESOpen
	}
	out, err := x.gcm(nonce).Open(dst, nonce[12:], ciphertext, ad)
	if err != nil {
		return nil, errXAESOpen
	}
	return out, nil
}
