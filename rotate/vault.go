package rotate

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/faults"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
	"github.com/chatsafe/chatsafe/vault"
)

// The vault registration moves to the new key after the switch. Only the
// old key's owner token may replace the account, and the key cache holds
// the new key by then, so the old key is kept beside the journal (as
// private as the key cache) until the vault holds the new one.
const oldKeyFile = "rotate-vault-old-key"

func oldKeyPath(stateDir string) string { return filepath.Join(stateDir, oldKeyFile) }

// prepareVault runs before the switch: on a fresh rotation it checks the
// password against the vault, then keeps the old key for moveVault.
func prepareVault(ctx context.Context, cfg *configs.Config, pw []byte, oldKey crypt.Key, rems []remotes.Remote, fresh bool) error {
	if fresh {
		if err := checkVaultPassword(ctx, cfg, pw, oldKey, rems); err != nil {
			return err
		}
	}
	return keepOldKey(cfg.StateDir, oldKey)
}

// keepOldKey saves the key the vault account is owned by, before the switch.
func keepOldKey(stateDir string, k crypt.Key) error {
	if err := crypt.WriteSecretFile(oldKeyPath(stateDir), []byte(hex.EncodeToString(k[:])+"\n")); err != nil {
		return fmt.Errorf("keeping the old key for the vault re-registration: %w", err)
	}
	return nil
}

// loadOldKey reads what keepOldKey saved; ok is false when nothing is kept
// (the vault holds the new key already).
func loadOldKey(stateDir string) (k crypt.Key, ok bool, err error) {
	b, err := crypt.ReadSecretFile(oldKeyPath(stateDir))
	if errors.Is(err, os.ErrNotExist) {
		return k, false, nil
	}
	if err != nil {
		return k, false, fmt.Errorf("reading the old key kept for the vault re-registration: %w", err)
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(raw) != len(k) {
		return k, false, fmt.Errorf("%s is damaged: it should hold the old key in hex; if the vault still holds the old key, run `chatsafe key set-password` with the old key restored, or register again with the new key", oldKeyPath(stateDir))
	}
	copy(k[:], raw)
	clear(raw)
	return k, true, nil
}

// moveVault registers newKey in the vault under the same password,
// authorised by the old key's owner token, and saves the new handle on
// every remote. Run again, it sees the account owned by the new key
// already (the old token is refused) and registers afresh with the new
// key, so a run killed anywhere in it is finished by the next.
func moveVault(ctx context.Context, cfg *configs.Config, pw []byte, newKey crypt.Key, rems []remotes.Remote) error {
	c, err := instance.VaultClient(cfg.Key.Vault)
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	account := cfg.Key.Vault.Account
	old, ok, err := loadOldKey(cfg.StateDir)
	if err != nil {
		return err
	}
	var h vault.Handle
	if ok {
		h, err = c.Reregister(ctx, account, pw, old, newKey)
	}
	if !ok || errors.Is(err, vault.ErrNotOwner) {
		h, err = c.Register(ctx, account, pw, newKey)
	}
	if err != nil {
		return fmt.Errorf("rotating the key: the repository uses the new key, but moving the vault registration to it failed: %w (run `chatsafe key rotate` again once the vault is reachable)", err)
	}
	if err := faults.Point("rotate:vault"); err != nil {
		return err
	}
	for _, r := range rems {
		if err := instance.SaveVaultHandle(ctx, r, h); err != nil {
			return fmt.Errorf("rotating the key: the vault holds the new key, but %w (run `chatsafe key rotate` again once the remote is reachable)", err)
		}
	}
	if err := os.Remove(oldKeyPath(cfg.StateDir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the old key kept for the vault re-registration: %w", err)
	}
	return nil
}

// advanceVaultHead records the rotation's newest delta as the head in the
// vault, the repository's commit point: the re-sealed deltas continue the
// sequence past the head the vault recorded, and the next commit starts
// from them. A record at or past head (a run that got this far before) is
// left as it is.
func advanceVaultHead(ctx context.Context, cfg *configs.Config, newKey crypt.Key, rems []remotes.Remote, head store.HeadRef) error {
	g, err := instance.NewVaultGuard(ctx, cfg, newKey, rems)
	if err != nil {
		return fmt.Errorf("rotating the key: %w (run `chatsafe key rotate` again)", err)
	}
	defer g.Close()
	rec, err := g.Head(ctx)
	if err == nil && rec.Seq < head.Seq {
		err = g.Advance(ctx, rec, head)
	}
	if err != nil {
		return fmt.Errorf("rotating the key: recording the re-sealed head in the vault: %w (run `chatsafe key rotate` again once the vault is reachable)", err)
	}
	return nil
}

// checkVaultPassword recovers the key from the vault with pw before a
// rotation starts: the new key goes there behind pw, so a password file
// that no longer matches (the password was changed with another file)
// would otherwise silently set a password the owner does not know. It
// also finds an unreachable vault before anything changed.
func checkVaultPassword(ctx context.Context, cfg *configs.Config, pw []byte, key crypt.Key, rems []remotes.Remote) error {
	c, err := instance.VaultClient(cfg.Key.Vault)
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	got, err := instance.RecoverFromVault(ctx, c, cfg.Key.Vault.Account, pw, rems)
	if err != nil {
		return fmt.Errorf("rotating the key: checking the vault password (%s) before anything changes: %w; nothing was changed", cfg.Key.PasswordFile, err)
	}
	if got != key {
		return fmt.Errorf("rotating the key: the vault keeps another key than this installation's; run `chatsafe key set-password` to keep this key there first; nothing was changed")
	}
	return nil
}
