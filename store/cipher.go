package store

import (
	"errors"
	"fmt"

	"github.com/chatsafe/chatsafe/crypt"
)

// ErrUnsupported means the repository was written by a newer chatsafe: a
// config version or a cipher this one does not know.
var ErrUnsupported = errors.New("the repository needs a newer chatsafe")

// sealer returns the AEAD that seals and opens the objects of a repository
// whose config names cipher c, under key. Every reader and writer gets its
// AEAD from here, through the config (decodeConfig), or for a new config
// (Init, a key rotation) from newCipher.
func sealer(key crypt.Key, c crypt.Cipher) (*crypt.AEAD, error) {
	a, err := key.SealAEAD(c)
	if errors.Is(err, crypt.ErrUnknownCipher) {
		return nil, fmt.Errorf("the repository is sealed with %v, which this chatsafe does not know (upgrade chatsafe): %w", c, ErrUnsupported)
	}
	return a, err
}

// newCipher is the cipher a new config is written with: opts.Cipher, or
// this machine's choice (crypt.PreferredCipher).
func newCipher(opts Options) crypt.Cipher {
	if opts.Cipher != 0 {
		return opts.Cipher
	}
	return crypt.PreferredCipher()
}

// sealersOf returns an AEAD of key for every cipher: what tells whether
// key sealed an object, whichever cipher the writer chose (a rotation's
// new deltas before its config names their cipher, an old key's leftovers).
func sealersOf(key crypt.Key) []*crypt.AEAD {
	var out []*crypt.AEAD
	for _, c := range crypt.Ciphers() {
		if a, err := sealer(key, c); err == nil {
			out = append(out, a)
		}
	}
	return out
}
