package store

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/crypt"
)

// TestConfigVersionAuthenticated: a version 3 config's seal covers its
// version (and everything else in the clear), so the sealed part of a
// version 1 or 2 config under a version 3 header does not open, even
// where its plaintext would parse as version 3's.
func TestConfigVersionAuthenticated(t *testing.T) {
	key := mustKey(t)
	c := repoConfig{RepoID: [16]byte{7}, Created: time.Unix(1700000000, 0)}
	b := append([]byte(configMagic), configVersionCipher)
	b = append(b, c.RepoID[:]...)
	kc := keyCheck(key, c.RepoID)
	b = append(b, kc[:]...)
	b = append(b, 0) // no rotated keys
	s := &encoder{}
	s.varint(c.Created.UnixNano())
	s.byte1(byte(crypt.XChaCha20Poly1305))
	s.raw(make([]byte, 32))
	// Sealed as versions 1 and 2 seal, bound to no version.
	obj := crypt.NewAEAD(key.Subkey(crypt.PurposeSeal)).Seal(b, s.b, crypt.AssociatedData(adConfig, c.RepoID, nil))
	if _, _, err := decodeConfig(key, obj); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("a version 3 header on a seal bound to no version: %v, want an integrity failure", err)
	}
	// And every written version relabelled as another.
	c.PrevChecks = [][32]byte{{1}}
	for _, from := range []byte{formatVersion, configVersionRotated, configVersionCipher} {
		for _, cipher := range crypt.Ciphers() {
			c.Cipher = cipher
			for _, to := range []byte{formatVersion, configVersionRotated, configVersionCipher} {
				obj := encodeConfigAs(from, key, c)
				if _, _, err := decodeConfig(key, obj); err != nil {
					t.Fatalf("version %d, %v: %v", from, cipher, err)
				}
				if to == from {
					continue
				}
				obj[len(configMagic)] = to
				if _, _, err := decodeConfig(key, obj); !errors.Is(err, ErrIntegrity) {
					t.Fatalf("version %d relabelled %d: %v, want an integrity failure", from, to, err)
				}
			}
		}
	}
}

// TestConfigUnknownCipher: an authentic config naming a cipher this
// chatsafe does not know is a newer chatsafe's (ErrUnsupported), told
// after the key check, so a wrong key is still told as such.
func TestConfigUnknownCipher(t *testing.T) {
	key, other := mustKey(t), mustKey(t)
	for _, cipher := range []crypt.Cipher{0, 3, 255} {
		obj := encodeConfigAs(configVersionCipher, key, repoConfig{RepoID: [16]byte{7}, Created: time.Now(), Cipher: cipher})
		if _, _, err := decodeConfig(key, obj); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "upgrade chatsafe") {
			t.Fatalf("cipher %d: %v, want ErrUnsupported", cipher, err)
		}
		if _, _, err := decodeConfig(other, obj); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("cipher %d, another key: %v, want ErrWrongKey", cipher, err)
		}
	}
}

func mustKey(t *testing.T) crypt.Key {
	t.Helper()
	k, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
