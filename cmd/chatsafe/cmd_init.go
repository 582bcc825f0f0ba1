package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/instance"
)

// InitOptions are the flags of `chatsafe init`.
type InitOptions struct {
	Source         string
	Remotes        []string
	Config         string
	StateDir       string
	RcloneConfig   string
	RecoveryKeyOut string
	Vault          vaultFlags
}

func newInitCommand(g *globalOptions) *cobra.Command {
	var opts InitOptions
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInit(cmd.Context(), opts, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&opts.Source, "source", "", "chat-history directory to back up (required)")
	cmd.Flags().StringArrayVar(&opts.Remotes, "remote", nil, "where backups go (repeatable); default a local directory")
	configFlag(cmd, &opts.Config)
	cmd.Flags().StringVar(&opts.StateDir, "state-dir", "", "local state directory; the status socket goes with it (default "+configs.Default().StateDir+")")
	cmd.Flags().StringVar(&opts.RcloneConfig, "rclone-config", "", "rclone.conf defining named remotes (default rclone's own)")
	cmd.Flags().StringVar(&opts.RecoveryKeyOut, "recovery-key-out", "", "also write the recovery key to this file (mode 0600)")
	opts.Vault.register(cmd)
	return cmd
}

func runInit(ctx context.Context, opts InitOptions, g *globalOptions, stdout, stderr io.Writer) error {
	if opts.Source == "" {
		return usageErr(errors.New("--source DIR is required: the chat-history directory to back up"))
	}
	src, err := filepath.Abs(opts.Source)
	if err != nil {
		return usageErr(err)
	}
	if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
		return usageErr(fmt.Errorf("source %s is not a directory", src))
	}
	cfgPath := g.configPath(opts.Config)
	if _, err := os.Stat(cfgPath); err == nil {
		return usageErr(fmt.Errorf("%s already exists: this machine is set up already (pass --config for another installation)", cfgPath))
	}
	cfg := configs.Default()
	cfg.Source = src
	if opts.StateDir != "" {
		if cfg.StateDir, err = filepath.Abs(opts.StateDir); err != nil {
			return usageErr(err)
		}
		// The socket belongs to the installation, as its state does.
		cfg.StatusSocket = configs.DefaultSocket(cfg.StateDir)
	}
	cfg.RcloneConfig = opts.RcloneConfig
	if len(opts.Remotes) > 0 {
		cfg.Remotes = nil
		for i, spec := range opts.Remotes {
			cfg.Remotes = append(cfg.Remotes, configs.Remote{Name: remoteName(spec, i), URL: spec})
		}
	}
	f := opts
	if f.Vault.given() {
		cfg.Key.Vault = f.Vault.config()
		cfg.Key.PasswordFile = f.Vault.passwordFile
		if _, err := f.Vault.client(); err != nil {
			return err
		}
	}
	key, err := crypt.NewKey()
	if err != nil {
		return err
	}
	if f.RecoveryKeyOut != "" {
		// Written first: if it cannot be saved, nothing else is created.
		if err := crypt.WriteSecretFile(f.RecoveryKeyOut, []byte(key.RecoveryKey()+"\n")); err != nil {
			return fmt.Errorf("writing the recovery key to %s: %w", f.RecoveryKeyOut, err)
		}
	}
	if err := instance.Create(ctx, cfg, cfgPath, key, cliLogger(stderr)); err != nil {
		return err
	}
	printInitDone(stdout, cfg, cfgPath, key, f.RecoveryKeyOut)
	var vaultErr error
	if f.Vault.given() {
		if vaultErr = f.Vault.registerKey(ctx, prompt{g.stdin, stderr}, key); vaultErr == nil {
			fmt.Fprintf(stdout, "\nThe backup key is also kept by the vault at %s for account %q, behind your password.\n", f.Vault.urls, f.Vault.account)
		} else {
			fmt.Fprintf(stdout, "\nThe vault did not take the key (see the error); run `chatsafe key set-password` to try again.\n")
		}
	}
	fmt.Fprintln(stdout, "\nNext: `chatsafe backup` for a backup now, or `chatsafe daemon` to back up continuously.")
	return vaultErr
}

func printInitDone(out io.Writer, cfg *configs.Config, cfgPath string, key crypt.Key, keyFile string) {
	fmt.Fprintf(out, "chatsafe is set up.\n  config:  %s\n  source:  %s\n", cfgPath, cfg.Source)
	for _, r := range cfg.Remotes {
		fmt.Fprintf(out, "  remote:  %s (%s)\n", r.Name, r.URL)
	}
	fmt.Fprintf(out, "\nYour recovery key (shown only this once):\n\n    %s\n\n", key.RecoveryKey())
	fmt.Fprintln(out, "Write it down or store it in a password manager. It is the only way to restore")
	fmt.Fprintln(out, "your backups on a new device unless you set a vault password (chatsafe key set-password).")
	if keyFile != "" {
		fmt.Fprintf(out, "It was also written to %s.\n", keyFile)
	}
}
