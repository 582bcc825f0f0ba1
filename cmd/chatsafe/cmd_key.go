package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/instance"
)

// KeyOptions are the flags of `chatsafe key show|set-password|remove-password`.
type KeyOptions struct {
	Config string
	Vault  vaultFlags // set-password and remove-password
}

func newKeyCommand(g *globalOptions) *cobra.Command {
	keyCmd := &cobra.Command{
		Use:   "key show | set-password | remove-password | rotate | import",
		Short: "Show the recovery key, or keep the backup key behind a vault password",
		Long: `This device keeps its copy of the backup key in the OS keyring where one
answers, else in the state directory (key_store in the config). To restore on a
new device you need either the 64-digit recovery key (key show prints it) or a
password kept by a Backup Key Vault (key set-password). The vault never learns
the password or the key, allows 10 wrong passwords and then erases the key.`,
		Example: `  chatsafe key show
  chatsafe key set-password --vault https://vault.example.org --vault-ca ca.pem --account alice`,
	}
	keyCmd.AddCommand(newKeyShowCommand(g), newKeySetPasswordCommand(g), newKeyRemovePasswordCommand(g), newKeyRotateCommand(g), newKeyImportCommand(g))
	return keyCmd
}

func newKeyShowCommand(g *globalOptions) *cobra.Command {
	var opts KeyOptions
	cmd := &cobra.Command{
		Use:   "show [--config FILE]",
		Short: "Print the recovery key of this installation",
		Long: `show prints this installation's 64-digit recovery key, read from the local key
cache. Whoever holds it can read every backup: keep it off this device.`,
		Example: `  chatsafe key show > /media/usb/chatsafe-recovery-key.txt`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runKeyShow(opts, g, cmd.OutOrStdout())
		},
	}
	configFlag(cmd, &opts.Config)
	return cmd
}

func runKeyShow(opts KeyOptions, g *globalOptions, stdout io.Writer) error {
	_, k, err := configAndKey(g, opts.Config)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, k.RecoveryKey())
	return nil
}

func newKeySetPasswordCommand(g *globalOptions) *cobra.Command {
	var opts KeyOptions
	cmd := &cobra.Command{
		Use:   "set-password [--config FILE] [--vault URL --vault-ca FILE --account NAME] [--password-file FILE]",
		Short: "Keep the backup key in a Backup Key Vault behind a password (or change it)",
		Long: `set-password registers this installation's backup key with a Backup Key Vault
behind a password, or changes the password. Vault flags not given are taken from
the config's key.vault section, and the config is updated so the daemon can
fetch the key on a new device. A daemon running meanwhile (here or on another
device) goes on committing: it reads the new vault handle from the remote.
Setting a password also resets the vault's count of wrong passwords, and after
the vault erased the key it makes password recovery work again.

The config must take the change before the vault is asked: a config that
cannot be edited in place stops the command with nothing changed. A relative
--vault-ca or --password-file is written absolute (the config reads relative
paths from its own directory).`,
		Example: `  chatsafe key set-password --vault https://vault.example.org --vault-ca ca.pem --account alice
  chatsafe key set-password --password-file new-password.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runKeySetPassword(cmd.Context(), opts, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	configFlag(cmd, &opts.Config)
	opts.Vault.register(cmd)
	return cmd
}

func runKeySetPassword(ctx context.Context, opts KeyOptions, g *globalOptions, stdout, stderr io.Writer) error {
	cfg, k, err := configAndKey(g, opts.Config)
	if err != nil {
		return err
	}
	v := opts.Vault
	v.withDefaults(cfg)
	edit := func(file *configs.Config) {
		file.Key.Vault = v.config()
		if opts.Vault.passwordFile != "" {
			// The daemon fetches the key with this file on a new device.
			file.Key.PasswordFile = absOrEmpty(opts.Vault.passwordFile)
		}
	}
	// The vault cannot be taken back: the config it goes with must be
	// writable first.
	if err := checkConfigUpdate(cfg.Path, edit); err != nil {
		return fmt.Errorf("%w\nThe vault was not asked, and nothing changed: once the config is fixed, run the same command again", err)
	}
	if err := registerWithRemotes(ctx, cfg, g.retry(cliLogger(stderr)), v, prompt{g.stdin, stderr}, k); err != nil {
		return err
	}
	if err := updateConfigFile(cfg.Path, edit); err != nil {
		return fmt.Errorf("the password is set, but updating %s failed: %w", cfg.Path, err)
	}
	fmt.Fprintf(stdout, "the backup key is now kept by the vault for account %q; restore on a new device with\n  chatsafe restore --remote REMOTE --vault %s --vault-ca FILE --account %s --to DIR\n", v.account, v.urls, v.account)
	return nil
}

func newKeyRemovePasswordCommand(g *globalOptions) *cobra.Command {
	var opts KeyOptions
	cmd := &cobra.Command{
		Use:   "remove-password [--config FILE] [--vault URL --vault-ca FILE --account NAME]",
		Short: "Delete the backup key from the vault (the recovery key still works)",
		Long: `remove-password deletes this installation's backup key from the Backup Key
Vault (proving it holds the key) and removes the vault from the config. The
recovery key remains the only way to restore on a new device.`,
		Example: `  chatsafe key remove-password`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runKeyRemovePassword(cmd.Context(), opts, g, cmd.OutOrStdout())
		},
	}
	configFlag(cmd, &opts.Config)
	opts.Vault.register(cmd)
	return cmd
}

func runKeyRemovePassword(ctx context.Context, opts KeyOptions, g *globalOptions, stdout io.Writer) error {
	cfg, k, err := configAndKey(g, opts.Config)
	if err != nil {
		return err
	}
	v := opts.Vault
	v.withDefaults(cfg)
	c, err := v.client()
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	edit := func(file *configs.Config) {
		file.Key.Vault = configs.Vault{}
		file.Key.PasswordFile = ""
	}
	if err := checkConfigUpdate(cfg.Path, edit); err != nil {
		return fmt.Errorf("%w\nThe vault was not asked, and nothing changed: once the config is fixed, run the same command again", err)
	}
	if err := c.Delete(ctx, v.account, k); err != nil {
		return err
	}
	if err := updateConfigFile(cfg.Path, edit); err != nil {
		return fmt.Errorf("the vault no longer holds the key, but updating %s failed: %w", cfg.Path, err)
	}
	fmt.Fprintf(stdout, "the vault no longer holds the backup key; keep your recovery key (%s)\n", g.installation(cfg.Path).Cmd("key show"))
	return nil
}

func configAndKey(g *globalOptions, path string) (*configs.Config, crypt.Key, error) {
	cfg, err := g.loadConfig(path)
	if err != nil {
		return nil, crypt.Key{}, err
	}
	k, _, err := instance.KeyCache(cfg).Read()
	if err != nil {
		return nil, crypt.Key{}, fmt.Errorf("%w: %w: put the key back with %s (your recovery key or vault password)", instance.ErrNoKey, err, g.installation(cfg.Path).Cmd("key import"))
	}
	return cfg, k, nil
}

// checkConfigUpdate returns the error updateConfigFile(path, edit) would
// fail with, writing nothing.
func checkConfigUpdate(path string, edit func(*configs.Config)) error {
	file, err := configs.Load(path)
	if err != nil {
		return err
	}
	edit(file)
	return file.CheckWrite(path)
}

// updateConfigFile applies edit to the config file at path as it is on
// disk and writes it back: whatever a command did to the config it runs
// with stays out of the file.
func updateConfigFile(path string, edit func(*configs.Config)) error {
	file, err := configs.Load(path)
	if err != nil {
		return err
	}
	edit(file)
	return file.Write(path)
}
