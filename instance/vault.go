package instance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	vaultclient "github.com/chatsafe/chatsafe/vault/client"
)

// CredentialName is the systemd credential that carries the vault
// password ($CREDENTIALS_DIRECTORY/vault-password).
const CredentialName = "vault-password"

// VaultClient makes a client for a config's vault section.
func VaultClient(v configs.Vault) (*vaultclient.Client, error) {
	return vaultclient.New(vaultclient.Options{URLs: v.URLs(), CAFile: v.CAFile})
}

// VaultPassword reads the vault password for unattended use: the systemd
// credential when the service manager passed one, else key.password_file.
func VaultPassword(cfg *configs.Config) ([]byte, error) {
	if dir := os.Getenv("CREDENTIALS_DIRECTORY"); dir != "" {
		p := filepath.Join(dir, CredentialName)
		if b, err := crypt.ReadSecretFile(p); err == nil {
			return b, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("reading the vault password credential: %w", err)
		}
	}
	if cfg.Key.PasswordFile == "" {
		return nil, fmt.Errorf("%w: the config names a vault but no key.password_file (and no systemd credential %q)", ErrNoKey, CredentialName)
	}
	b, err := crypt.ReadSecretFile(cfg.Key.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("reading the vault password file: %w", err)
	}
	return b, nil
}

// FetchKeyFromVault is an Options.FetchKey that recovers the backup key
// from the config's vault with the unattended password. A wrong password
// is returned as is (the caller must not retry: each try spends one of the
// vault's attempts).
func FetchKeyFromVault(ctx context.Context, cfg *configs.Config) (crypt.Key, string, error) {
	if !cfg.Key.Vault.Enabled() {
		return crypt.Key{}, "", fmt.Errorf("%w: %s does not exist and the config names no vault (run `chatsafe restore --recovery-key-file` on a new device, or `chatsafe init`)", ErrNoKey, KeyCachePath(cfg.StateDir))
	}
	pw, err := VaultPassword(cfg)
	if err != nil {
		return crypt.Key{}, "", err
	}
	c, err := VaultClient(cfg.Key.Vault)
	if err != nil {
		return crypt.Key{}, "", err
	}
	defer c.CloseIdleConnections()
	k, err := c.Recover(ctx, cfg.Key.Vault.Account, pw)
	if err != nil {
		return crypt.Key{}, "", fmt.Errorf("fetching the backup key from the vault: %w", err)
	}
	return k, KeyFromVault, nil
}
