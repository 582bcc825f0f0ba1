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
	// IDKey, PrevChecks: set by a key rotation (config version 2, see
	// configv2.go); nil/empty in a version 1 config.
	IDKey      *[32]byte
	PrevChecks [][32]byte
}

func keyCheck(key crypt.Key, repoID [16]byte) [32]byte {
	return crypt.MAC(key.Subkey(crypt.PurposeKeyCheck), append([]byte("chatsafe key check v1"), repoID[:]...))
}

func encodeConfig(key crypt.Key, aead *crypt.AEAD, c repoConfig) []byte {
	b := append([]byte(configMagic), formatVersion)
	b = append(b, c.RepoID[:]...)
	kc := keyCheck(key, c.RepoID)
	b = append(b, kc[:]...)
	e := &encoder{}
	e.varint(c.Created.UnixNano())
	return aead.Seal(b, e.b, crypt.AssociatedData(adConfig, c.RepoID, nil))
}

const configHeaderSize = len(configMagic) + 1 + 16 + 32

func decodeConfig(key crypt.Key, aead *crypt.AEAD, p []byte) (repoConfig, error) {
	var c repoConfig
	if len(p) < configHeaderSize || !bytes.Equal(p[:len(configMagic)], []byte(configMagic)) {
		return c, integrityErr(configName, "not a chatsafe config object", nil)
	}
	if v := p[len(configMagic)]; v == configVersionRotated {
		return decodeConfigV2(key, aead, p)
	} else if v != formatVersion {
		return c, fmt.Errorf("repository format version %d is not supported by this chatsafe (reads %d): upgrade chatsafe", v, formatVersion)
	}
	copy(c.RepoID[:], p[len(configMagic)+1:])
	want := keyCheck(key, c.RepoID)
	if !hmac.Equal(want[:], p[len(configMagic)+17:configHeaderSize]) {
		return c, ErrWrongKey
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
