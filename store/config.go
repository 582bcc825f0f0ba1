package store

import (
	"bytes"
	"context"
	"crypto/hmac"
	"fmt"
	"time"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/remotes"
)

// The config object: magic, format version, repository id and a key check
// in the clear, then sealed parameters. The key check is a MAC under a
// subkey, so it tells a wrong key (exit 3) from a damaged config (exit 6)
// and reveals nothing about the key.

type repoConfig struct {
	RepoID  [16]byte
	Created time.Time
	// Cipher seals every object (config version 3); XChaCha20-Poly1305
	// for a config of version 1 or 2, which names none.
	Cipher crypt.Cipher
	// IDKey: the blob-id key (config versions 2 and 3, see configv2.go);
	// nil in a version 1 config, whose key derives it. PrevChecks: the
	// checks of the keys rotated away from.
	IDKey      *[32]byte
	PrevChecks [][32]byte
}

func keyCheck(key crypt.Key, repoID [16]byte) [32]byte {
	return crypt.MAC(key.Subkey(crypt.PurposeKeyCheck), append([]byte("chatsafe key check v1"), repoID[:]...))
}

// newConfig is the config a new repository, or a key rotation to key,
// writes. For XChaCha20-Poly1305 it is a version the chatsafes from
// before version 3 read too, so no device needs an upgrade where nothing
// changed: 1 for a new repository, 2 once keys were rotated away (a
// rotation sets PrevChecks and IDKey, which version 1 cannot hold). Any
// other cipher takes version 3, which names it and carries the blob-id
// key.
func newConfig(key crypt.Key, c repoConfig) []byte {
	if c.Cipher == crypt.XChaCha20Poly1305 && c.IDKey == nil && len(c.PrevChecks) == 0 {
		return encodeConfigV1(key, c)
	}
	if c.IDKey == nil {
		k := key.Subkey(crypt.PurposeBlobID)
		c.IDKey = &k
	}
	if c.Cipher == crypt.XChaCha20Poly1305 {
		return encodeConfigV2(key, c)
	}
	return encodeConfigV3(key, c)
}

// configAEAD seals the config object itself, whatever cipher seals the
// repository's objects: XChaCha20-Poly1305 under the seal subkey, as in
// every config version (it is tiny and read once, and a reader must open
// it before it knows the repository's cipher).
func configAEAD(key crypt.Key) *crypt.AEAD { return crypt.NewAEAD(key.Subkey(crypt.PurposeSeal)) }

const configHeaderSize = len(configMagic) + 1 + 16 + 32

// decodeConfig authenticates the config object p with key and returns it
// with the AEAD that seals the repository's objects: the one way a reader
// learns it (sealer makes it from the cipher the config names).
func decodeConfig(key crypt.Key, p []byte) (repoConfig, *crypt.AEAD, error) {
	var c repoConfig
	if len(p) < configHeaderSize || !bytes.Equal(p[:len(configMagic)], []byte(configMagic)) {
		return c, nil, integrityErr(configName, "not a chatsafe config object", nil)
	}
	switch v := p[len(configMagic)]; v {
	case configVersionCipher:
		return decodeConfigV3(key, p)
	case formatVersion, configVersionRotated:
		// Versions 1 and 2 name no cipher: XChaCha20-Poly1305, under the
		// same key as the config.
		aead := configAEAD(key)
		var err error
		if v == configVersionRotated {
			c, err = decodeConfigV2(key, aead, p)
		} else {
			c, err = decodeConfigV1(key, aead, p)
		}
		c.Cipher = crypt.XChaCha20Poly1305
		return c, aead, err
	default:
		return c, nil, fmt.Errorf("repository format version %d is not supported by this chatsafe (reads 1 to %d): upgrade chatsafe: %w", v, configVersionCipher, ErrUnsupported)
	}
}

// encodeConfigV1: version 1, a repository that was never rotated (its key
// derives the blob-id key):
//
//	"CHATSAFE" ‖ 1 ‖ repoID(16) ‖ keycheck(32) ‖ seal(varint(created), AD("config", repoID, ""))
func encodeConfigV1(key crypt.Key, c repoConfig) []byte {
	b := append([]byte(configMagic), formatVersion)
	b = append(b, c.RepoID[:]...)
	kc := keyCheck(key, c.RepoID)
	b = append(b, kc[:]...)
	e := &encoder{}
	e.varint(c.Created.UnixNano())
	return configAEAD(key).Seal(b, e.b, crypt.AssociatedData(adConfig, c.RepoID, nil))
}

func decodeConfigV1(key crypt.Key, aead *crypt.AEAD, p []byte) (repoConfig, error) {
	var c repoConfig
	copy(c.RepoID[:], p[len(configMagic)+1:])
	if err := checkKey(key, c, p); err != nil {
		return c, err
	}
	plain, err := aead.Open(nil, p[configHeaderSize:], crypt.AssociatedData(adConfig, c.RepoID, nil))
	if err != nil {
		return c, integrityErr(configName, "cannot be decrypted", err)
	}
	d := &decoder{b: plain}
	c.Created = time.Unix(0, d.varint()).UTC()
	if err := d.done(); err != nil {
		return c, integrityErr(configName, "malformed", err)
	}
	return c, nil
}

// checkKey compares key's check with the config p's: a key among c's
// rotated-away ones gets ErrKeyRotated, any other ErrWrongKey.
func checkKey(key crypt.Key, c repoConfig, p []byte) error {
	want := keyCheck(key, c.RepoID)
	if hmac.Equal(want[:], p[len(configMagic)+17:configHeaderSize]) {
		return nil
	}
	for _, pc := range c.PrevChecks {
		if hmac.Equal(want[:], pc[:]) {
			return ErrKeyRotated
		}
	}
	return ErrWrongKey
}

// getConfig reads rem's config object, at most maxConfigSize bytes: the
// one way the store reads it. A missing one is remotes.ErrNotFound
// (wrapped); a too large one an *IntegrityError.
func getConfig(ctx context.Context, rem remotes.Remote) ([]byte, error) {
	rc, err := rem.Get(ctx, configName, 0, maxConfigSize+1)
	if err != nil {
		return nil, fmt.Errorf("reading the config from %s: %w", rem, err)
	}
	defer rc.Close()
	b, err := readConfigObject(rc)
	if err != nil {
		return nil, fmt.Errorf("reading the config from %s: %w", rem, err)
	}
	return b, nil
}
