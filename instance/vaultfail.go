package instance

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/cmdline"
)

// failedPasswordFile, in the state directory, names the password file
// whose password the vault refused. A daemon restarted by its service
// manager, or a backup run from a timer, would otherwise spend one of the
// account's few attempts per start until the vault erases the key.
const failedPasswordFile = "vault-password-failed"

// ErrPasswordFailedBefore means the vault already refused the password in
// the unchanged password file.
var ErrPasswordFailedBefore = errors.New("the vault refused this password before")

// vaultPasswordWithID reads the unattended vault password and an identity
// of where it came from: the file's path, size and modification time,
// never the password or a hash of it (a hash would let whoever reads the
// state directory guess the password offline).
func vaultPasswordWithID(cfg *configs.Config) ([]byte, string, error) {
	pw, path, err := readVaultPassword(cfg)
	if err != nil {
		return nil, "", err
	}
	fi, err := os.Stat(path)
	if err != nil {
		clear(pw)
		return nil, "", fmt.Errorf("reading the vault password file: %w", err)
	}
	id := fmt.Sprintf("%s\n%d\n%d", path, fi.Size(), fi.ModTime().UnixNano())
	sum := sha256.Sum256([]byte(id))
	return pw, hex.EncodeToString(sum[:]), nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func checkNotFailedBefore(cfg *configs.Config, id string) error {
	b, err := os.ReadFile(filepath.Join(cfg.StateDir, failedPasswordFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", failedPasswordFile, err)
	}
	if strings.TrimSpace(string(b)) == id {
		return fmt.Errorf("%w: %w; not trying again (each try spends one of the vault's attempts): put the right password in the password file (or put the key back with %s and the recovery key)", ErrNoKey, ErrPasswordFailedBefore, cmdline.For(cfg.Path).Cmd("key import"))
	}
	return nil
}

func rememberFailed(stateDir, id string) error {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return err
	}
	return crypt.WriteSecretFile(filepath.Join(stateDir, failedPasswordFile), []byte(id+"\n"))
}

func forgetFailed(stateDir string) { _ = os.Remove(filepath.Join(stateDir, failedPasswordFile)) }
