package crypt

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// KeySize is the size of the backup key in bytes.
const KeySize = 32

// Key is the random 256-bit backup key. It refuses to be printed or
// serialised: fmt shows "crypt.Key(REDACTED)" for every verb, and
// MarshalJSON/MarshalText return an error. Use RecoveryKey to show it to the
// owner on purpose.
//
// fmt cannot call methods on unexported struct fields, so never keep a Key in
// an unexported field of a struct that may be printed with %v.
type Key [KeySize]byte

const redacted = "crypt.Key(REDACTED)"

// errKeyMarshal is returned by the marshal methods so a Key never reaches JSON,
// YAML, gob or a structured log by accident.
var errKeyMarshal = errors.New("crypt.Key refuses to be serialised: store it with WriteKeyCache or show it with RecoveryKey")

// NewKey returns a fresh random backup key from crypto/rand.
func NewKey() (Key, error) {
	var k Key
	if _, err := io.ReadFull(rand.Reader, k[:]); err != nil {
		return Key{}, fmt.Errorf("generate backup key: the system random source failed: %w", err)
	}
	return k, nil
}

// String returns "crypt.Key(REDACTED)", never the key bytes.
func (Key) String() string { return redacted }

// GoString returns "crypt.Key(REDACTED)", never the key bytes.
func (Key) GoString() string { return redacted }

// Format prints "crypt.Key(REDACTED)" for every verb (%v, %s, %x, %#v, ...).
func (Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue keeps the key out of log/slog output.
func (Key) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON always fails so that a Key cannot leak through JSON.
func (Key) MarshalJSON() ([]byte, error) { return nil, errKeyMarshal }

// MarshalText always fails so that a Key cannot leak through text encodings
// (JSON map keys, YAML, slog, gob).
func (Key) MarshalText() ([]byte, error) { return nil, errKeyMarshal }

const (
	recoveryDigits = 2 * KeySize // 64 hex digits
	recoveryGroup  = 4
	upperHex       = "0123456789ABCDEF"
	// recoveryShape is what error messages show the user as the expected shape.
	recoveryShape  = "(16 groups of 4 like 0A1B-2C3D-...)"
	recoveryFormat = "64 hex digits " + recoveryShape
)

// RecoveryKey returns the key as 64 uppercase hex digits in 16 groups of 4
// joined by "-", e.g. "0A1B-2C3D-...". ParseRecoveryKey reverses it.
func (k Key) RecoveryKey() string {
	var b strings.Builder
	b.Grow(recoveryDigits + recoveryDigits/recoveryGroup - 1)
	for i, c := range k {
		if i > 0 && i%(recoveryGroup/2) == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&0x0f])
	}
	return b.String()
}

// ErrMalformedRecoveryKey is wrapped by every error of ParseRecoveryKey.
var ErrMalformedRecoveryKey = errors.New("malformed recovery key")

// ParseRecoveryKey parses a recovery key as typed or pasted by a person: any
// case, with spaces, tabs, newlines and dashes anywhere. Errors wrap
// ErrMalformedRecoveryKey, say what is expected and never echo the input
// (at most the one offending character).
func ParseRecoveryKey(s string) (Key, error) {
	var k Key
	n := 0   // hex digits seen
	pos := 0 // 1-based character position in s, for the error message
	for _, r := range s {
		pos++
		var v byte
		switch {
		case r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '-':
			continue
		case '0' <= r && r <= '9':
			v = byte(r - '0')
		case 'a' <= r && r <= 'f':
			v = byte(r-'a') + 10
		case 'A' <= r && r <= 'F':
			v = byte(r-'A') + 10
		default:
			return Key{}, fmt.Errorf("%w: character %q at position %d is not a hex digit (0-9, A-F); a recovery key is %s",
				ErrMalformedRecoveryKey, r, pos, recoveryFormat)
		}
		if n < recoveryDigits {
			k[n/2] |= v << (4 * (1 - n%2))
		}
		n++
	}
	if n == 0 {
		return Key{}, fmt.Errorf("%w: it is empty, want %s", ErrMalformedRecoveryKey, recoveryFormat)
	}
	if n != recoveryDigits {
		return Key{}, fmt.Errorf("%w: it has %d hex digits, want 64 %s", ErrMalformedRecoveryKey, n, recoveryShape)
	}
	return k, nil
}
