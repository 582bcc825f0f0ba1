package instance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/cmdline"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/vault"
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
	pw, _, err := readVaultPassword(cfg)
	return pw, err
}

// readVaultPassword is VaultPassword, also saying which file the password
// came from.
func readVaultPassword(cfg *configs.Config) ([]byte, string, error) {
	if dir := os.Getenv("CREDENTIALS_DIRECTORY"); dir != "" {
		p := filepath.Join(dir, CredentialName)
		if b, err := crypt.ReadSecretFile(p); err == nil {
			return b, p, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, "", fmt.Errorf("reading the vault password credential: %w", err)
		}
	}
	if cfg.Key.PasswordFile == "" {
		return nil, "", fmt.Errorf("%w: the config names a vault but no key.password_file (and no systemd credential %q); %s asks for the password (or takes the recovery key) and puts the key back", ErrNoKey, CredentialName, cmdline.For(cfg.Path).Cmd("key import"))
	}
	b, err := crypt.ReadPrivateSecretFile("vault password file", cfg.Key.PasswordFile)
	if errors.Is(err, crypt.ErrSecretFileInsecure) {
		return nil, "", err
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading the vault password file: %w", err)
	}
	return b, cfg.Key.PasswordFile, nil
}

// FetchKeyFromVault is an Options.FetchKey that recovers the backup key
// from the config's vault with the unattended password and the handle kept
// on the config's remotes (opened with retry). A wrong password is
// returned as is and remembered (see failedPasswords): the same password
// file is not tried again, since each try spends one of the vault's
// attempts.
func FetchKeyFromVault(ctx context.Context, cfg *configs.Config, retry remotes.RetryOptions) (crypt.Key, string, error) {
	if !cfg.Key.Vault.Enabled() {
		return crypt.Key{}, "", fmt.Errorf("%w: %s does not exist and the config names no vault: put the key back with %s (your recovery key)", ErrNoKey, KeyCachePath(cfg.StateDir), cmdline.For(cfg.Path).Cmd("key import"))
	}
	pw, pwID, err := vaultPasswordWithID(cfg)
	if err != nil {
		return crypt.Key{}, "", err
	}
	if err := checkNotFailedBefore(cfg, pwID); err != nil {
		return crypt.Key{}, "", err
	}
	c, err := VaultClient(cfg.Key.Vault)
	if err != nil {
		return crypt.Key{}, "", err
	}
	defer c.CloseIdleConnections()
	rems, err := OpenRemotes(ctx, cfg, retry)
	if err != nil {
		return crypt.Key{}, "", err
	}
	defer CloseRemotes(rems)
	k, err := RecoverFromVault(ctx, c, cfg.Key.Vault.Account, pw, rems)
	if errors.Is(err, vault.ErrWrongPassword) {
		if rerr := rememberFailed(cfg.StateDir, pwID); rerr != nil {
			err = fmt.Errorf("%w (and remembering the failed password file failed: %w)", err, rerr)
		}
	}
	if err != nil {
		return crypt.Key{}, "", fmt.Errorf("fetching the backup key from the vault: %w", err)
	}
	forgetFailed(cfg.StateDir)
	return k, KeyFromVault, nil
}

// ErrNoVaultHandle means no remote holds the vault handle, so a login
// would be answered as for an unknown account.
var ErrNoVaultHandle = errors.New("no vault handle on the remote")

// RegisterVault keeps key in the vault behind password and saves the new
// vault handle on every remote, so that only who can read a remote can
// spend the account's password attempts.
func RegisterVault(ctx context.Context, c *vaultclient.Client, account string, password []byte, key crypt.Key, rems []remotes.Remote) error {
	h, err := c.Register(ctx, account, password, key)
	if err != nil {
		return err
	}
	for _, r := range rems {
		if err := SaveVaultHandle(ctx, r, h); err != nil {
			return fmt.Errorf("the vault holds the key, but %w; run `chatsafe key set-password` again once the remote is reachable", err)
		}
	}
	return nil
}

// RecoverFromVault fetches the backup key with the handle from the first of
// rems that holds one. With none (an account registered before handles)
// it logs in without a handle, which only such an account accepts; a
// refusal then says how to register again with a handle.
func RecoverFromVault(ctx context.Context, c *vaultclient.Client, account string, password []byte, rems []remotes.Remote) (crypt.Key, error) {
	h, err := FindVaultHandle(ctx, rems)
	if err != nil {
		return crypt.Key{}, err
	}
	k, err := c.Recover(ctx, account, password, h)
	if err != nil && h.IsZero() && (errors.Is(err, vault.ErrWrongPassword) || errors.Is(err, vault.ErrErased)) {
		return k, fmt.Errorf("%w (%w: if the password is right, the account was registered with a handle kept on another remote, or before vault handles: on a device that has the key, run `chatsafe key set-password` to register it again, or use the recovery key)", err, ErrNoVaultHandle)
	}
	return k, err
}

// FindVaultHandle returns the vault handle from the first of rems that
// holds one; the zero handle when every remote answers that it holds none
// (an account registered before handles). A remote that fails to answer
// is passed over if another holds the handle, else its error is returned:
// the handle could be on it, and going on without would be refused by
// the vault with no word of the real cause.
func FindVaultHandle(ctx context.Context, rems []remotes.Remote) (vault.Handle, error) {
	var errs []error
	for _, r := range rems {
		h, err := LoadVaultHandle(ctx, r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !h.IsZero() {
			return h, nil
		}
	}
	return vault.Handle{}, errors.Join(errs...)
}

// VaultHandleObject is the object on the backup's remote that holds the
// vault handle of the owner's account (32 hex digits and a newline). The
// remote is the owner's side: whoever can read it can spend the account's
// attempts, whoever cannot is answered as for an unknown account.
const VaultHandleObject = "vault-handle"

// SaveVaultHandle stores the handle Register returned on the remote.
func SaveVaultHandle(ctx context.Context, r remotes.Remote, h vault.Handle) error {
	b := []byte(h.String() + "\n")
	if err := r.Put(ctx, VaultHandleObject, bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("saving the vault handle on %s: %w", r, err)
	}
	return nil
}

// LoadVaultHandle reads the handle saved by SaveVaultHandle. A remote
// without one (an account registered before handles) gives the zero
// handle and no error. The read is bounded: the object is tiny, and a
// remote is not trusted to keep it so.
func LoadVaultHandle(ctx context.Context, r remotes.Remote) (vault.Handle, error) {
	rc, err := r.Get(ctx, VaultHandleObject, 0, -1)
	if errors.Is(err, remotes.ErrNotFound) {
		return vault.Handle{}, nil
	}
	if err != nil {
		return vault.Handle{}, fmt.Errorf("reading the vault handle from %s: %w", r, err)
	}
	defer rc.Close()
	const limit = 2*vault.HandleLen + 2
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return vault.Handle{}, fmt.Errorf("reading the vault handle from %s: %w", r, err)
	}
	if len(b) > limit {
		return vault.Handle{}, fmt.Errorf("the vault handle object %q on %s is larger than a handle; delete it and set the vault password again (chatsafe key set-password)", VaultHandleObject, r)
	}
	h, err := vault.ParseHandle(string(b))
	if err != nil {
		return vault.Handle{}, fmt.Errorf("the vault handle object %q on %s: %w; set the vault password again (chatsafe key set-password)", VaultHandleObject, r, err)
	}
	return h, nil
}
