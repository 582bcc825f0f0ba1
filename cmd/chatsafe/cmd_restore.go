package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/browse"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// RestoreOptions are the flags of `chatsafe restore`.
type RestoreOptions struct {
	To, Config, Remote, Snapshot, RcloneConfig string
	KeySource                                  keySourceFlags
	Force                                      bool
	Include, Exclude                           []string
	Time                                       string
}

func newRestoreCommand(g *globalOptions) *cobra.Command {
	var opts RestoreOptions
	cmd := &cobra.Command{
		Use:   "restore --to DIR [--config FILE | --remote REMOTE] [--snapshot ID] [--recovery-key-file FILE]",
		Short: "Restore a snapshot into a new or empty directory",
		Long: `restore writes a snapshot (the newest by default) into DIR, which must be new or
empty unless --force is given. Every byte is authenticated before it is written;
each file appears atomically with its mode and modification time; a SQLite
database is restored as one consistent file.

On this device, --config (or the default config) finds the remote and the key.
On a new device, name the remote with --remote and give the recovery key with
--recovery-key-file (or type it when asked), or use your vault password.

--time restores the newest snapshot at or before TIME; --include and --exclude
(globs on the path, or on the base name; repeatable) restore part of it, with the
same verification as a full restore.`,
		Example: `  chatsafe restore --to ~/chats-restored
  chatsafe restore --to ~/db-yesterday --time "2026-11-30 18:00" --include msgstore.db
  chatsafe restore --remote gdrive:chatsafe --recovery-key-file key.txt --to ~/chats`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRestore(cmd.Context(), opts, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&opts.To, "to", "", "directory to restore into (required; new or empty)")
	configFlag(cmd, &opts.Config)
	cmd.Flags().StringVar(&opts.Remote, "remote", "", "restore from this remote, without a config (new device)")
	cmd.Flags().StringVar(&opts.RcloneConfig, "rclone-config", "", "rclone.conf defining named remotes (with --remote)")
	cmd.Flags().StringVar(&opts.Snapshot, "snapshot", "latest", "snapshot id or unique prefix")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "restore into a non-empty directory, replacing files")
	cmd.Flags().StringArrayVar(&opts.Include, "include", nil, "restore only paths matching this glob (on the path, or the base name); repeatable")
	cmd.Flags().StringArrayVar(&opts.Exclude, "exclude", nil, "do not restore paths matching this glob; repeatable")
	cmd.Flags().StringVar(&opts.Time, "time", "", `restore the newest snapshot at or before TIME (RFC 3339 or local "2006-01-02 15:04")`)
	opts.KeySource.register(cmd)
	return cmd
}

func runRestore(ctx context.Context, opts RestoreOptions, g *globalOptions, stdout, stderr io.Writer) error {
	if opts.To == "" {
		return usageErr(errors.New("--to DIR is required"))
	}
	if opts.Config != "" && opts.Remote != "" {
		return usageErr(errors.New("give either --config or --remote, not both"))
	}
	var at time.Time
	if opts.Time != "" {
		if opts.Snapshot != "latest" && opts.Snapshot != "" {
			return usageErr(errors.New("give either --snapshot or --time, not both"))
		}
		t, err := browse.ParseTime(opts.Time)
		if err != nil {
			return usageErr(err)
		}
		at = t
	}
	if err := browse.ValidPatterns(append(append([]string(nil), opts.Include...), opts.Exclude...)); err != nil {
		return usageErr(err)
	}
	// Refuse a bad target before asking for a key or touching the network.
	if err := restore.CheckTarget(opts.To, opts.Force); err != nil {
		return usageErr(err)
	}
	p := prompt{g.stdin, stderr}
	r, closeAll, err := openRestoreSource(ctx, opts, g, p)
	if err != nil {
		return err
	}
	defer closeAll()
	var bar *progressbar.ProgressBar
	progress := func(done, total int64) {}
	if isTerminal(stdout) {
		progress = func(done, total int64) {
			if bar == nil {
				bar = progressbar.DefaultBytes(total, "restoring")
			}
			bar.Set64(done)
		}
	}
	res, err := restore.Run(ctx, r, restore.Options{Snapshot: opts.Snapshot, Time: at, Include: opts.Include, Exclude: opts.Exclude, Target: opts.To, Force: opts.Force, Progress: progress})
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(stdout)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored snapshot %s (%s): %d files, %s into %s\n",
		res.Snapshot.ShortID(), res.Snapshot.Time.Local().Format("2006-01-02 15:04:05"), res.Files, humanBytes(res.Bytes), opts.To)
	return nil
}

// openRestoreSource opens the repository to restore from: --remote with a
// key from the flags (a new device), or the config's first remote with the
// key from the flags or from this installation's key cache. closeAll
// releases what it opened.
func openRestoreSource(ctx context.Context, opts RestoreOptions, g *globalOptions, p prompt) (r *store.Store, closeAll func(), err error) {
	log := cliLogger(p.stderr)
	if opts.Remote != "" {
		key, err := opts.KeySource.key(ctx, p)
		if err != nil {
			return nil, nil, err
		}
		rem, err := g.openRemoteFlag(ctx, opts.Remote, opts.RcloneConfig)
		if err != nil {
			return nil, nil, err
		}
		if r, err = store.Open(ctx, rem, key, store.Options{Log: log}); err != nil {
			rem.Close()
			return nil, nil, err
		}
		return r, func() { r.Close(); rem.Close() }, nil
	}
	cfg, err := g.loadConfig(opts.Config)
	if err != nil {
		return nil, nil, err
	}
	if !opts.KeySource.given() {
		inst, err := instance.Open(ctx, cfg, instance.Options{ReadOnly: true, Log: log})
		if err != nil {
			return nil, nil, err
		}
		return inst.Store, func() { inst.Close() }, nil
	}
	key, err := opts.KeySource.key(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	rems, err := instance.OpenRemotes(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	if r, err = store.Open(ctx, rems[0], key, store.Options{StateDir: cfg.StateDir, ReadOnly: true, Log: log}); err != nil {
		instance.CloseRemotes(rems)
		return nil, nil, err
	}
	return r, func() { r.Close(); instance.CloseRemotes(rems) }, nil
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

func (k *keySourceFlags) key(ctx context.Context, p prompt) (crypt.Key, error) {
	if k.vault.given() {
		if k.recoveryKeyFile != "" {
			return crypt.Key{}, usageErr(errors.New("give either --recovery-key-file or the vault flags, not both"))
		}
		return k.vault.recover(ctx, p)
	}
	return readRecoveryKey(k.recoveryKeyFile, p.stdin, p.stderr)
}
