package store

import (
	"github.com/chatsafe/chatsafe/crypt"
)

// encodeConfigAs encodes c as config version v (1, 2 or 3, c's cipher for
// version 3), whatever version newConfig would choose, for the tests.
func encodeConfigAs(v byte, key crypt.Key, c repoConfig) []byte {
	switch v {
	case configVersionCipher:
		if c.IDKey == nil {
			k := key.Subkey(crypt.PurposeBlobID)
			c.IDKey = &k
		}
		return encodeConfigV3(key, c)
	case configVersionRotated:
		if c.IDKey == nil {
			k := key.Subkey(crypt.PurposeBlobID)
			c.IDKey = &k
		}
		return encodeConfigV2(key, c)
	}
	return encodeConfigV1(key, c)
}
