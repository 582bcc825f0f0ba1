package store

import (
	"fmt"
	"time"

	"github.com/chatsafe/chatsafe/crypt"
)

// Config version 3 names the cipher that seals the repository's objects;
// a new repository and every key rotation write it (docs/format.md,
// "config"):
//
//	"CHATSAFE" ‖ 3 ‖ repoID(16) ‖ keycheck(32) ‖ cipher(1)
//	‖ uvarint(n) ‖ n × keycheck(32) of every key rotated away from
//	‖ seal_cipher(varint(created) ‖ cipher(1) ‖ blob-id key(32), AD("config", repoID, ""))
//
// The cipher is in the clear so that a reader knows it before it opens
// anything, and again inside the seal, which is what makes it
// authentic: a remote that changes the clear byte gets a config that no
// longer opens (or that contradicts itself), an integrity failure. Each
// cipher seals under its own subkey (crypt.Key.SealAEAD), so a flipped
// byte cannot make a reader use one key with two algorithms either.
// Versions 1 and 2 name no cipher: XChaCha20-Poly1305.

const configVersionCipher = 3

func encodeConfigV3(key crypt.Key, aead *crypt.AEAD, c repoConfig) []byte {
	b := append([]byte(configMagic), configVersionCipher)
	b = append(b, c.RepoID[:]...)
	kc := keyCheck(key, c.RepoID)
	b = append(b, kc[:]...)
	b = append(b, byte(c.Cipher))
	e := &encoder{b: b}
	prev := c.PrevChecks
	if len(prev) > maxPrevChecks {
		prev = prev[len(prev)-maxPrevChecks:]
	}
	e.uvarint(uint64(len(prev)))
	for _, p := range prev {
		e.raw(p[:])
	}
	s := &encoder{}
	s.varint(c.Created.UnixNano())
	s.byte1(byte(c.Cipher))
	s.raw(c.IDKey[:])
	return aead.Seal(e.b, s.b, crypt.AssociatedData(adConfig, c.RepoID, nil))
}

func decodeConfigV3(key crypt.Key, p []byte) (repoConfig, *crypt.AEAD, error) {
	var c repoConfig
	copy(c.RepoID[:], p[len(configMagic)+1:])
	d := &decoder{b: p[configHeaderSize:]}
	c.Cipher = crypt.Cipher(d.byte1())
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
	aead, err := sealer(key, c.Cipher)
	if err != nil {
		return c, nil, err
	}
	plain, err := aead.Open(nil, d.b, crypt.AssociatedData(adConfig, c.RepoID, nil))
	if err != nil {
		return c, nil, integrityErr(configName, "cannot be decrypted", err)
	}
	sd := &decoder{b: plain}
	c.Created = time.Unix(0, sd.varint()).UTC()
	sealedCipher := crypt.Cipher(sd.byte1())
	var idKey [32]byte
	copy(idKey[:], sd.raw(32))
	c.IDKey = &idKey
	if err := sd.done(); err != nil {
		return c, nil, integrityErr(configName, "malformed", err)
	}
	if sealedCipher != c.Cipher {
		return c, nil, integrityErr(configName, fmt.Sprintf("states %v in the clear and %v under its seal", c.Cipher, sealedCipher), nil)
	}
	return c, aead, nil
}
