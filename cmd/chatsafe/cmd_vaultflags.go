package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/remotes"
	vaultclient "github.com/chatsafe/chatsafe/vault/client"
)

// vaultFlags name a Backup Key Vault account: --vault, --vault-ca,
// --account, --password-file.
type vaultFlags struct {
	urls, ca, account, passwordFile string
}

func (v *vaultFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&v.urls, "vault", "", "Backup Key Vault URL(s), comma-separated")
	cmd.Flags().StringVar(&v.ca, "vault-ca", "", "PEM certificate to trust for the vault (the vault's tls/cert.pem)")
	cmd.Flags().StringVar(&v.account, "account", "", "vault account name")
	cmd.Flags().StringVar(&v.passwordFile, "password-file", "", "file whose first line is the vault password (else asked on a terminal)")
}

func (v *vaultFlags) given() bool { return v.urls != "" }

// withDefaults fills unset flags from a config's key.vault section.
func (v *vaultFlags) withDefaults(cfg *configs.Config) {
	if v.urls == "" {
		v.urls = cfg.Key.Vault.URL
	}
	if v.ca == "" {
		v.ca = cfg.Key.Vault.CAFile
	}
	if v.account == "" {
		v.account = cfg.Key.Vault.Account
	}
	if v.passwordFile == "" {
		v.passwordFile = cfg.Key.PasswordFile
	}
}

// config is the key.vault section the flags describe. --vault-ca is made
// absolute: the config reads a relative path from its own directory, and
// the command may run anywhere.
func (v *vaultFlags) config() configs.Vault {
	return configs.Vault{URL: v.urls, Account: v.account, CAFile: absOrEmpty(v.ca)}
}

func (v *vaultFlags) client() (*vaultclient.Client, error) {
	if v.urls == "" {
		return nil, usageErr(errors.New("no vault: pass --vault URL (and --vault-ca, --account)"))
	}
	if v.account == "" {
		return nil, usageErr(errors.New("--account is required with --vault"))
	}
	var urls []string
	for _, u := range strings.Split(v.urls, ",") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	c, err := vaultclient.New(vaultclient.Options{URLs: urls, CAFile: v.ca})
	if err != nil {
		return nil, usageErr(err)
	}
	return c, nil
}

// prompt is where a command asks for secrets: a terminal on stdin, and
// stderr for the questions.
type prompt struct {
	stdin  *os.File
	stderr io.Writer
}

// password reads the vault password from --password-file, or asks on a
// terminal (twice when confirm is set, for a new password).
func (v *vaultFlags) password(ctx context.Context, p prompt, confirm bool) ([]byte, error) {
	if v.passwordFile != "" {
		b, err := crypt.ReadPrivateSecretFile("vault password file", v.passwordFile)
		if err != nil {
			return nil, usageErr(fmt.Errorf("reading the password file: %w", err))
		}
		if len(b) == 0 {
			return nil, usageErr(fmt.Errorf("the password file %s is empty", v.passwordFile))
		}
		return b, nil
	}
	if !isTerminal(p.stdin) {
		return nil, usageErr(errors.New("no vault password: pass --password-file FILE (or run on a terminal to be asked)"))
	}
	if !confirm {
		// How many attempts are left is told only to whoever spends one
		// (or proves the backup key, which this device lacks), so the
		// prompt cannot say it: it says what is at stake instead.
		fmt.Fprintln(p.stderr, "Each wrong password spends one of the vault's attempts (10 unless the vault was set up otherwise); after the last one the vault erases the key and only the recovery key restores.")
	}
	pw, err := p.secret(ctx, "Vault password: ")
	if err != nil {
		return nil, err
	}
	if len(pw) == 0 {
		return nil, usageErr(errors.New("empty password"))
	}
	if confirm {
		again, err := p.secret(ctx, "Repeat the password: ")
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(pw, again) {
			return nil, usageErr(errors.New("the passwords do not match"))
		}
	}
	return pw, nil
}

// recover fetches the backup key from the vault with the handle kept on
// rems (the repository's remotes).
func (v *vaultFlags) recover(ctx context.Context, p prompt, rems []remotes.Remote) (crypt.Key, error) {
	c, err := v.client()
	if err != nil {
		return crypt.Key{}, err
	}
	defer c.CloseIdleConnections()
	pw, err := v.password(ctx, p, false)
	if err != nil {
		return crypt.Key{}, err
	}
	return instance.RecoverFromVault(ctx, c, v.account, pw, rems)
}

// registerKey stores key in the vault behind a (new) password and the new
// vault handle on every one of rems.
func (v *vaultFlags) registerKey(ctx context.Context, p prompt, key crypt.Key, rems []remotes.Remote) error {
	c, err := v.client()
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	pw, err := v.password(ctx, p, true)
	if err != nil {
		return err
	}
	return instance.RegisterVault(ctx, c, v.account, pw, key, rems)
}
