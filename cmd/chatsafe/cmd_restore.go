package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

type restoreFlags struct {
	to, config, remote, snapshot, rcloneConfig string
	keySource                                  keySourceFlags
	force                                      bool
}

func init() {
	var f restoreFlags
	cmd := &cobra.Command{
		Use:   "restore --to DIR [--config FILE | --remote REMOTE] [--snapshot ID] [--recovery-key-file FILE]",
		Short: "Restore a snapshot into a new or empty directory",
		Long: `restore writes a snapshot (the newest by default) into DIR, which must be new or
empty unless --force is given. Every byte is authenticated before it is written;
each file appears atomically with its mode and modification time; a SQLite
database is restored as one consistent file.

On this device, --config (or the default config) finds the remote and the key.
On a new device, name the remote with --remote and give the recovery key with
--recovery-key-file (or type it when asked), or use your vault password.`,
		Example: `  chatsafe restore --to ~/chats-restored
  chatsafe restore --remote gdrive:chatsafe --recovery-key-file key.txt --to ~/chats`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRestore(cmd, f) },
	}
	cmd.Flags().StringVar(&f.to, "to", "", "directory to restore into (required; new or empty)")
	configFlag(cmd, &f.config)
	cmd.Flags().StringVar(&f.remote, "remote", "", "restore from this remote, without a config (new device)")
	cmd.Flags().StringVar(&f.rcloneConfig, "rclone-config", "", "rclone.conf defining named remotes (with --remote)")
	cmd.Flags().StringVar(&f.snapshot, "snapshot", "latest", "snapshot id or unique prefix")
	cmd.Flags().BoolVar(&f.force, "force", false, "restore into a non-empty directory, replacing files")
	f.keySource.register(cmd)
	rootCmd.AddCommand(cmd)
}

func runRestore(cmd *cobra.Command, f restoreFlags) error {
	if f.to == "" {
		return usageErr(errors.New("--to DIR is required"))
	}
	if f.config != "" && f.remote != "" {
		return usageErr(errors.New("give either --config or --remote, not both"))
	}
	// Refuse a bad target before asking for a key or touching the network.
	if err := restore.CheckTarget(f.to, f.force); err != nil {
		return usageErr(err)
	}
	ctx := cmd.Context()
	log := cliLogger()
	var r *store.Store
	if f.remote != "" {
		key, err := f.keySource.key(cmd)
		if err != nil {
			return err
		}
		rem, err := openRemoteFlag(ctx, f.remote, f.rcloneConfig)
		if err != nil {
			return err
		}
		defer rem.Close()
		if r, err = store.Open(ctx, rem, key, store.Options{Log: log}); err != nil {
			return err
		}
	} else {
		cfg, err := loadConfig(f.config)
		if err != nil {
			return err
		}
		opts := instance.Options{ReadOnly: true, Log: log}
		if f.keySource.given() {
			opts.FetchKey = nil
			key, err := f.keySource.key(cmd)
			if err != nil {
				return err
			}
			rems, err := instance.OpenRemotes(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer instance.CloseRemotes(rems)
			if r, err = store.Open(ctx, rems[0], key, store.Options{StateDir: cfg.StateDir, ReadOnly: true, Log: log}); err != nil {
				return err
			}
		} else {
			inst, err := instance.Open(ctx, cfg, opts)
			if err != nil {
				return err
			}
			defer inst.Close()
			r = inst.Store
		}
	}
	defer r.Close()

	var bar *progressbar.ProgressBar
	progress := func(done, total int64) {}
	if isTerminal(os.Stdout) {
		progress = func(done, total int64) {
			if bar == nil {
				bar = progressbar.DefaultBytes(total, "restoring")
			}
			bar.Set64(done)
		}
	}
	res, err := restore.Run(ctx, r, restore.Options{Snapshot: f.snapshot, Target: f.to, Force: f.force, Progress: progress})
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(cmd.OutOrStdout())
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "restored snapshot %s (%s): %d files, %s into %s\n",
		res.Snapshot.ShortID(), res.Snapshot.Time.Local().Format("2006-01-02 15:04:05"), res.Files, humanBytes(res.Bytes), f.to)
	return nil
}

// keySourceFlags are the ways to give the backup key on a device that has
// no key cache: the recovery key (a file or a prompt), or the vault.
type keySourceFlags struct {
	recoveryKeyFile string
	vault           vaultFlags
}

func (k *keySourceFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&k.recoveryKeyFile, "recovery-key-file", "", "file holding the 64-digit recovery key")
	k.vault.register(cmd)
}

func (k *keySourceFlags) given() bool { return k.recoveryKeyFile != "" || k.vault.given() }

func (k *keySourceFlags) key(cmd *cobra.Command) (crypt.Key, error) {
	if k.vault.given() {
		if k.recoveryKeyFile != "" {
			return crypt.Key{}, usageErr(errors.New("give either --recovery-key-file or the vault flags, not both"))
		}
		return k.vault.recover(cmd)
	}
	return readRecoveryKey(k.recoveryKeyFile, os.Stdin, cmd.ErrOrStderr())
}
