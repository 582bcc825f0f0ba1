package crypt

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseRecoveryKey checks that parsing never panics, that every failure
// wraps ErrMalformedRecoveryKey, and that every success round-trips: the key's
// canonical form parses back to the same key, and that form equals the input
// once case and separators are removed.
func FuzzParseRecoveryKey(f *testing.F) {
	f.Add("0A1B-2C3D-4E5F-6071-8293-A4B5-C6D7-E8F9-0A1B-2C3D-4E5F-6071-8293-A4B5-C6D7-E8F9")
	f.Add("0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9")
	f.Add("")
	f.Add("0A1B-2C3G")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseRecoveryKey(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedRecoveryKey) {
				t.Fatalf("error %q does not wrap ErrMalformedRecoveryKey", err)
			}
			// The message quotes the expected format, which may itself
			// contain a short input; look for the input everywhere else.
			msg := strings.ReplaceAll(err.Error(), recoveryShape, "")
			if len(s) > 8 && strings.Contains(msg, s) {
				t.Fatalf("error %q echoes the input", err)
			}
			return
		}
		rk := k.RecoveryKey()
		k2, err := ParseRecoveryKey(rk)
		if err != nil || k2 != k {
			t.Fatalf("RecoveryKey() %q does not parse back to the key: %v", rk, err)
		}
		norm := strings.NewReplacer("-", "", " ", "", "\t", "", "\n", "", "\r", "").Replace(strings.ToUpper(s))
		if norm != strings.ReplaceAll(rk, "-", "") {
			t.Fatalf("input %q parsed to a key whose recovery key is %q", s, rk)
		}
	})
}
