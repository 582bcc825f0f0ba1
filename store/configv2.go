package store

import (
	"errors"
	"time"

	"github.com/chatsafe/chatsafe/crypt"
)

// Config version 2 is written by a key rotation (rotate.go) to
// XChaCha20-Poly1305 (to XAES-256-GCM, version 3: configv3.go):
//
//	"CHATSAFE" ‖ 2 ‖ repoID(16) ‖ keycheck(32, new key)
//	‖ uvarint(n) ‖ n × keycheck(32) of every key rotated away from
//	‖ seal(varint(created) ‖ blob-id key(32), AD("config", repoID, ""))
//
// The blob-id key is the one the repository was created with: blob ids
// appear only inside sealed trailers and trees, so keeping them lets a
// rotation re-seal blobs without re-encoding trees. The old key checks
// were public in the old config already; they let a device holding an old
// key be told that the key was rotated rather than that it is wrong.

const configVersionRotated = 2

// maxPrevChecks caps the rotation history a config keeps (and a reader reads).
const maxPrevChecks = 64

// ErrKeyRotated means the key once opened this repository but was rotated away.
var ErrKeyRotated = errors.New("the repository's key was rotated: this key no longer opens it; get the new recovery key from whoever rotated it and join again (`chatsafe init --join` with the same --state-dir, after removing this device's config file)")

func encodeConfigV2(key crypt.Key, c repoConfig) []byte {
	e := encodeRotatedHeader(key, c, configVersionRotated)
	s := &encoder{}
	s.varint(c.Created.UnixNano())
	s.raw(c.IDKey[:])
	return configAEAD(key).Seal(e.b, s.b, crypt.AssociatedData(adConfig, c.RepoID, nil))
}

func decodeConfigV2(key crypt.Key, aead *crypt.AEAD, p []byte) (repoConfig, error) {
	c, sealed, err := decodeRotatedHeader(key, p)
	if err != nil {
		return c, err
	}
	plain, err := aead.Open(nil, sealed, crypt.AssociatedData(adConfig, c.RepoID, nil))
	if err != nil {
		return c, integrityErr(configName, "cannot be decrypted", err)
	}
	sd := &decoder{b: plain}
	c.Created = time.Unix(0, sd.varint()).UTC()
	var idKey [32]byte
	copy(idKey[:], sd.raw(32))
	c.IDKey = &idKey
	if err := sd.done(); err != nil {
		return c, integrityErr(configName, "malformed", err)
	}
	return c, nil
}

// encodeRotatedHeader starts a version 2 or 3 config: magic, version,
// repository id, the key check, and the checks of the last maxPrevChecks
// keys rotated away from. The seal follows it.
func encodeRotatedHeader(key crypt.Key, c repoConfig, version byte) *encoder {
	b := append([]byte(configMagic), version)
	b = append(b, c.RepoID[:]...)
	kc := keyCheck(key, c.RepoID)
	b = append(b, kc[:]...)
	e := &encoder{b: b}
	prev := c.PrevChecks
	if len(prev) > maxPrevChecks {
		prev = prev[len(prev)-maxPrevChecks:]
	}
	e.uvarint(uint64(len(prev)))
	for _, p := range prev {
		e.raw(p[:])
	}
	return e
}

// decodeRotatedHeader reads what encodeRotatedHeader wrote and checks key
// against it (ErrKeyRotated for a key rotated away from); it returns the
// sealed rest.
func decodeRotatedHeader(key crypt.Key, p []byte) (repoConfig, []byte, error) {
	var c repoConfig
	copy(c.RepoID[:], p[len(configMagic)+1:])
	d := &decoder{b: p[configHeaderSize:]}
	n := d.count(32)
	if n > maxPrevChecks {
		return c, nil, integrityErr(configName, "lists too many rotated keys", nil)
	}
	for range n {
		c.PrevChecks = append(c.PrevChecks, d.id())
	}
	if d.err != nil {
		return c, nil, integrityErr(configName, "malformed", d.err)
	}
	if err := checkKey(key, c, p); err != nil {
		return c, nil, err
	}
	return c, d.b, nil
}
