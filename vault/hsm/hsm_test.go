//go:build cgo

package hsm

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/vault/hsm/softhsmtest"
)

func TestMasterKeyInSoftHSM(t *testing.T) {
	tok := softhsmtest.New(t, "chatsafe-test")
	cfg := Config{Module: tok.Module, TokenLabel: tok.Label, PIN: tok.PIN}
	mk, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	extractable, sensitive, err := mk.attributes()
	if err != nil {
		t.Fatal(err)
	}
	if extractable || !sensitive {
		t.Fatalf("master key attributes: extractable=%v sensitive=%v, want false/true", extractable, sensitive)
	}
	pt := []byte("an OPRF key, say")
	sealed, err := mk.Seal(pt, []byte("ad-1"))
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if bytes.Contains(sealed, pt) {
		t.Fatal("sealed data holds the plaintext")
	}
	got, err := mk.Open(sealed, []byte("ad-1"))
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Open: %q, %v", got, err)
	}
	if _, err := mk.Open(sealed, []byte("ad-2")); !errors.Is(err, ErrSealed) {
		t.Fatalf("Open with other associated data: %v, want ErrSealed", err)
	}
	bad := bytes.Clone(sealed)
	bad[len(bad)-1] ^= 1
	if _, err := mk.Open(bad, []byte("ad-1")); !errors.Is(err, ErrSealed) {
		t.Fatalf("Open of altered data: %v, want ErrSealed", err)
	}
	if _, err := mk.Open(sealed[:5], []byte("ad-1")); !errors.Is(err, ErrSealed) {
		t.Fatalf("Open of truncated data: %v, want ErrSealed", err)
	}
	if err := mk.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopening finds the same key in the token.
	mk2, err := Open(cfg)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if got, err := mk2.Open(sealed, []byte("ad-1")); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Open after reopening: %v", err)
	}
	if err := mk2.Close(); err != nil {
		t.Fatal(err)
	}

	// A wrong PIN is refused and does not appear in the error.
	bad2 := cfg
	bad2.PIN = "wrong-pin-1234"
	if _, err := Open(bad2); err == nil || bytes.Contains([]byte(err.Error()), []byte(bad2.PIN)) {
		t.Fatalf("Open with a wrong PIN: %v", err)
	}
}

func TestReadPINFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "pin")
	if err := os.WriteFile(p, []byte("1234\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if pin, err := ReadPINFile(p); err != nil || pin != "1234" {
		t.Fatalf("ReadPINFile: %q, %v", pin, err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPINFile(p); err == nil {
		t.Fatal("a PIN file readable by others was accepted")
	}
	if err := os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPINFile(filepath.Join(dir, "empty")); err == nil {
		t.Fatal("an empty PIN file was accepted")
	}
}
