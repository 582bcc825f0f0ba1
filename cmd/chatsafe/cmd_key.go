package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/instance"
)

func init() {
	keyCmd := &cobra.Command{
		Use:   "key show | set-password | remove-password",
		Short: "Show the recovery key, or keep the backup key behind a vault password",
		Long: `The backup key is kept on this device in the state directory. To restore on a
new device you need either the 64-digit recovery key (key show prints it) or a
password kept by a Backup Key Vault (key set-password). The vault never learns
the password or the key, allows 10 wrong passwords and then erases the key.`,
	}

	var showConfig string
	show := &cobra.Command{
		Use:   "show [--config FILE]",
		Short: "Print the recovery key of this installation",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(showConfig)
			if err != nil {
				return err
			}
			k, err := crypt.ReadKeyCache(instance.KeyCachePath(cfg.StateDir))
			if err != nil {
				return fmt.Errorf("%w: %w", instance.ErrNoKey, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), k.RecoveryKey())
			return nil
		},
	}
	configFlag(show, &showConfig)

	var setConfig string
	var setFlags vaultFlags
	set := &cobra.Command{
		Use:   "set-password [--config FILE] [--vault URL --vault-ca FILE --account NAME] [--password-file FILE]",
		Short: "Keep the backup key in a Backup Key Vault behind a password (or change it)",
		Long: `set-password registers this installation's backup key with a Backup Key Vault
behind a password, or changes the password. Vault flags not given are taken from
the config's key.vault section, and the config is updated so the daemon can
fetch the key on a new device.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, k, err := configAndKey(setConfig)
			if err != nil {
				return err
			}
			setFlags.withDefaults(cfg)
			if err := setFlags.registerKey(cmd, k); err != nil {
				return err
			}
			cfg.Key.Vault = setFlags.config()
			if err := cfg.Write(cfg.Path); err != nil {
				return fmt.Errorf("the password is set, but updating %s failed: %w", cfg.Path, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "the backup key is now kept by the vault for account %q; restore on a new device with\n  chatsafe restore --remote REMOTE --vault %s --vault-ca FILE --account %s --to DIR\n", setFlags.account, setFlags.urls, setFlags.account)
			return nil
		},
	}
	configFlag(set, &setConfig)
	setFlags.register(set)

	var rmConfig string
	var rmFlags vaultFlags
	rm := &cobra.Command{
		Use:   "remove-password [--config FILE] [--vault URL --vault-ca FILE --account NAME]",
		Short: "Delete the backup key from the vault (the recovery key still works)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, k, err := configAndKey(rmConfig)
			if err != nil {
				return err
			}
			rmFlags.withDefaults(cfg)
			c, err := rmFlags.client()
			if err != nil {
				return err
			}
			defer c.CloseIdleConnections()
			if err := c.Delete(cmd.Context(), rmFlags.account, k); err != nil {
				return err
			}
			cfg.Key.Vault = configs.Vault{}
			cfg.Key.PasswordFile = ""
			if err := cfg.Write(cfg.Path); err != nil {
				return fmt.Errorf("the vault no longer holds the key, but updating %s failed: %w", cfg.Path, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "the vault no longer holds the backup key; keep your recovery key (`chatsafe key show`)")
			return nil
		},
	}
	configFlag(rm, &rmConfig)
	rmFlags.register(rm)

	keyCmd.AddCommand(show, set, rm)
	rootCmd.AddCommand(keyCmd)
}

func configAndKey(path string) (*configs.Config, crypt.Key, error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, crypt.Key{}, err
	}
	k, err := crypt.ReadKeyCache(instance.KeyCachePath(cfg.StateDir))
	if err != nil {
		return nil, crypt.Key{}, fmt.Errorf("%w: %w", instance.ErrNoKey, err)
	}
	return cfg, k, nil
}
