package store

import (
	"github.com/chatsafe/chatsafe/crypt"
)

// The config versions chatsafe no longer writes, for the tests that read
// them: version 1 (a new repository before version 3) and version 2 (a
// key rotation before it). Both are XChaCha20-Poly1305.

func encodeConfigV1(key crypt.Key, aead *crypt.AEAD, c repoConfig) []byte {
	b := append([]byte(configMagic), formatVersion)
	b = append(b, c.RepoID[:]...)
	kc := keyCheck(key, c.RepoID)
	b = append(b, kc[:]...)
	e := &encoder{}
	e.varint(c.Created.UnixNano())
	return aead.Seal(b, e.b, crypt.AssociatedData(adConfig, c.RepoID, nil))
}

func encodeConfigV2(key crypt.Key, aead *crypt.AEAD, c repoConfig) []byte {
	b := append([]byte(configMagic), configVersionRotated)
	b = append(b, c.RepoID[:]...)
	kc := keyCheck(key, c.RepoID)
	b = append(b, kc[:]...)
	e := &encoder{b: b}
	e.uvarint(uint64(len(c.PrevChecks)))
	for _, p := range c.PrevChecks {
		e.raw(p[:])
	}
	s := &encoder{}
	s.varint(c.Created.UnixNano())
	s.raw(c.IDKey[:])
	return aead.Seal(e.b, s.b, crypt.AssociatedData(adConfig, c.RepoID, nil))
}

// encodeConfigAs encodes c as config version v (1, 2 or 3), c's cipher
// for version 3.
func encodeConfigAs(v byte, key crypt.Key, c repoConfig) []byte {
	if v == configVersionCipher {
		return newConfig(key, c)
	}
	a := crypt.NewAEAD(key.Subkey(crypt.PurposeSeal))
	if v == configVersionRotated {
		if c.IDKey == nil {
			k := key.Subkey(crypt.PurposeBlobID)
			c.IDKey = &k
		}
		return encodeConfigV2(key, a, c)
	}
	return encodeConfigV1(key, a, c)
}
