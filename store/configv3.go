package store

import (
	"time"

	"github.com/chatsafe/chatsafe/crypt"
)

// Config version 3 is written for a repository sealed with XAES-256-GCM
// (docs/format.md, "config"); it names the repository's cipher, under the
// seal only:
//
//	"CHATSAFE" ‖ 3 ‖ repoID(16) ‖ keycheck(32)
//	‖ uvarint(n) ‖ n × keycheck(32) of every key rotated away from
//	‖ seal(varint(created) ‖ cipher(1) ‖ blob-id key(32), AD("config", repoID, header))
//
// header is every byte before the seal, the version among them, so none
// of it can be changed (a version 3 config relabelled 1 or 2, or the
// reverse, does not open). The config itself is sealed as versions 1 and
// 2 are, with XChaCha20-Poly1305 under the seal subkey (configAEAD): a
// reader opens it before it knows the cipher, and nothing in the clear
// names it, so a remote cannot make a reader ask for a newer chatsafe
// by changing a byte; it can only damage the config. A cipher this
// chatsafe does not know, in a config that opens, is a newer chatsafe's
// (ErrUnsupported).

const configVersionCipher = 3

func encodeConfigV3(key crypt.Key, c repoConfig) []byte {
	e := encodeRotatedHeader(key, c, configVersionCipher)
	s := &encoder{}
	s.varint(c.Created.UnixNano())
	s.byte1(byte(c.Cipher))
	s.raw(c.IDKey[:])
	return configAEAD(key).Seal(e.b, s.b, crypt.AssociatedData(adConfig, c.RepoID, e.b))
}

func decodeConfigV3(key crypt.Key, p []byte) (repoConfig, *crypt.AEAD, error) {
	c, sealed, err := decodeRotatedHeader(key, p)
	if err != nil {
		return c, nil, err
	}
	header := p[:len(p)-len(sealed)]
	plain, err := configAEAD(key).Open(nil, sealed, crypt.AssociatedData(adConfig, c.RepoID, header))
	if err != nil {
		return c, nil, integrityErr(configName, "cannot be decrypted", err)
	}
	sd := &decoder{b: plain}
	c.Created = time.Unix(0, sd.varint()).UTC()
	c.Cipher = crypt.Cipher(sd.byte1())
	var idKey [32]byte
	copy(idKey[:], sd.raw(32))
	c.IDKey = &idKey
	if err := sd.done(); err != nil {
		return c, nil, integrityErr(configName, "malformed", err)
	}
	aead, err := sealer(key, c.Cipher)
	if err != nil {
		return c, nil, err
	}
	return c, aead, nil
}
