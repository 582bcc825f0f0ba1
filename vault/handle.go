package vault

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// HandleLen is the size of a vault handle: 128 random bits.
const HandleLen = 16

// Handle is the random value created when an account is registered and
// kept by the owner on their remote, beside the backup. A login must show
// it: without the right handle the vault answers as for an unknown account
// and spends none of the account's attempts, so knowing the account name
// is not enough to erase the key. It is not a password: it only says "this
// login comes from the owner's side".
type Handle [HandleLen]byte

// NewHandle draws a fresh handle.
func NewHandle() (Handle, error) {
	var h Handle
	if _, err := rand.Read(h[:]); err != nil {
		return h, fmt.Errorf("drawing a vault handle: %w", err)
	}
	return h, nil
}

// IsZero reports whether h is unset (a login without a handle, for an
// account registered before handles existed).
func (h Handle) IsZero() bool { return h == Handle{} }

// String is the handle in hex, the form it is stored in.
func (h Handle) String() string { return hex.EncodeToString(h[:]) }

// ParseHandle reads the hex form written by String.
func ParseHandle(s string) (Handle, error) {
	var h Handle
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != HandleLen {
		return h, errors.New("a vault handle is 32 hex digits")
	}
	copy(h[:], b)
	return h, nil
}

// HandleHash is what the vault stores and compares: the SHA-256 of the
// handle, so that its database does not hold the handle itself.
func HandleHash(h []byte) []byte {
	if len(h) == 0 {
		return nil
	}
	s := sha256.Sum256(h)
	return s[:]
}
