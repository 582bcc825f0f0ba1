package vault

import (
	"github.com/bytemare/opaque"
	"github.com/chatsafe/chatsafe/crypt"
)

// OpaqueContext separates this protocol's transcripts from any other
// OPAQUE deployment.
const OpaqueContext = "chatsafe-vault-v1"

// OpaqueConfig is the one OPAQUE configuration of the vault, shared by
// client and server: ristretto255/SHA-512, Argon2id as the client's
// key-stretching function.
func OpaqueConfig() *opaque.Configuration {
	c := opaque.DefaultConfiguration()
	c.Context = []byte(OpaqueContext)
	return c
}

// OwnerToken proves possession of the backup key for account: the vault
// stores only its hash and asks for it to replace or delete the account.
func OwnerToken(key crypt.Key, account string) []byte {
	t := crypt.MAC(key.Subkey(crypt.PurposeOwnerToken), []byte(account))
	return t[:]
}
