//go:build unix

package instance

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
)

// TestVaultPasswordFileMode: a password file that group or others may
// read is refused, as the key cache is, with the chmod that fixes it; at
// 0600 (or 0400) it is read.
func TestVaultPasswordFileMode(t *testing.T) {
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	pw := filepath.Join(t.TempDir(), "vault-password")
	if err := os.WriteFile(pw, []byte("correct horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &configs.Config{Key: configs.Key{PasswordFile: pw}}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.Chmod(pw, mode); err != nil {
			t.Fatal(err)
		}
		b, err := VaultPassword(cfg)
		if !errors.Is(err, crypt.ErrSecretFileInsecure) || !strings.Contains(err.Error(), "chmod 600 "+pw) || b != nil {
			t.Fatalf("mode %04o: %q, %v; want it refused with the chmod that fixes it", mode, b, err)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		os.Chmod(pw, mode)
		if b, err := VaultPassword(cfg); err != nil || string(b) != "correct horse" {
			t.Fatalf("mode %04o: %q, %v", mode, b, err)
		}
	}
}
