package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/instance"
)

type initFlags struct {
	source         string
	remotes        []string
	config         string
	stateDir       string
	rcloneConfig   string
	recoveryKeyOut string
	vault          vaultFlags
}

func init() {
	var f initFlags
	cmd := &cobra.Command{
		Use:   "init --source DIR [--remote REMOTE]... [--config FILE] [--recovery-key-out FILE]",
		Short: "Set up chatsafe: a config, a new backup key and a repository on each remote",
		Long: `init creates a new backup key, a repository on every remote and a config file,
and prints the 64-digit recovery key once. Keep the recovery key somewhere safe:
without it (or a vault password) nobody can restore your backups, not even you.

A REMOTE is anything rclone accepts: a remote from rclone.conf (gdrive:chats,
icloud:Backups, s3:bucket/x), a connection string (":webdav,url='https://…':dir")
or a plain path. Without --remote, backups go to a local directory under
` + configs.DefaultDataDir() + `.`,
		Example: `  chatsafe init --source ~/chats --remote gdrive:chatsafe
  chatsafe init --source ~/chats --remote /mnt/nas/chatsafe --recovery-key-out ~/recovery-key.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runInit(cmd, f) },
	}
	cmd.Flags().StringVar(&f.source, "source", "", "chat-history directory to back up (required)")
	cmd.Flags().StringArrayVar(&f.remotes, "remote", nil, "where backups go (repeatable); default a local directory")
	configFlag(cmd, &f.config)
	cmd.Flags().StringVar(&f.stateDir, "state-dir", "", "local state directory (default "+configs.Default().StateDir+")")
	cmd.Flags().StringVar(&f.rcloneConfig, "rclone-config", "", "rclone.conf defining named remotes (default rclone's own)")
	cmd.Flags().StringVar(&f.recoveryKeyOut, "recovery-key-out", "", "also write the recovery key to this file (mode 0600)")
	f.vault.register(cmd)
	rootCmd.AddCommand(cmd)
}

func runInit(cmd *cobra.Command, f initFlags) error {
	if f.source == "" {
		return usageErr(errors.New("--source DIR is required: the chat-history directory to back up"))
	}
	src, err := filepath.Abs(f.source)
	if err != nil {
		return usageErr(err)
	}
	if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
		return usageErr(fmt.Errorf("source %s is not a directory", src))
	}
	cfgPath := f.config
	if cfgPath == "" {
		cfgPath = configs.DefaultConfigPath()
	}
	if _, err := os.Stat(cfgPath); err == nil {
		return usageErr(fmt.Errorf("%s already exists: this machine is set up already (pass --config for another installation)", cfgPath))
	}
	cfg := configs.Default()
	cfg.Source = src
	if f.stateDir != "" {
		if cfg.StateDir, err = filepath.Abs(f.stateDir); err != nil {
			return usageErr(err)
		}
	}
	cfg.RcloneConfig = f.rcloneConfig
	if len(f.remotes) > 0 {
		cfg.Remotes = nil
		for i, spec := range f.remotes {
			cfg.Remotes = append(cfg.Remotes, configs.Remote{Name: remoteName(spec, i), URL: spec})
		}
	}
	if f.vault.given() {
		cfg.Key.Vault = f.vault.config()
		cfg.Key.PasswordFile = f.vault.passwordFile
		if _, err := f.vault.client(); err != nil {
			return err
		}
	}
	key, err := crypt.NewKey()
	if err != nil {
		return err
	}
	if f.recoveryKeyOut != "" {
		// Written first: if it cannot be saved, nothing else is created.
		if err := crypt.WriteSecretFile(f.recoveryKeyOut, []byte(key.RecoveryKey()+"\n")); err != nil {
			return fmt.Errorf("writing the recovery key to %s: %w", f.recoveryKeyOut, err)
		}
	}
	if err := instance.Create(cmd.Context(), cfg, cfgPath, key, cliLogger()); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "chatsafe is set up.\n  config:  %s\n  source:  %s\n", cfgPath, cfg.Source)
	for _, r := range cfg.Remotes {
		fmt.Fprintf(out, "  remote:  %s (%s)\n", r.Name, r.URL)
	}
	fmt.Fprintf(out, "\nYour recovery key (shown only this once):\n\n    %s\n\n", key.RecoveryKey())
	fmt.Fprintln(out, "Write it down or store it in a password manager. It is the only way to restore")
	fmt.Fprintln(out, "your backups on a new device unless you set a vault password (chatsafe key set-password).")
	if f.recoveryKeyOut != "" {
		fmt.Fprintf(out, "It was also written to %s.\n", f.recoveryKeyOut)
	}
	var vaultErr error
	if f.vault.given() {
		if vaultErr = f.vault.registerKey(cmd, key); vaultErr == nil {
			fmt.Fprintf(out, "\nThe backup key is also kept by the vault at %s for account %q, behind your password.\n", f.vault.urls, f.vault.account)
		} else {
			fmt.Fprintf(out, "\nThe vault did not take the key (see the error); run `chatsafe key set-password` to try again.\n")
		}
	}
	fmt.Fprintln(out, "\nNext: `chatsafe backup` for a backup now, or `chatsafe daemon` to back up continuously.")
	return vaultErr
}
