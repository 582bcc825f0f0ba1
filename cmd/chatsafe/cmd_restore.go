package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/restore"
)

// RestoreOptions are the flags of `chatsafe restore`.
type RestoreOptions struct {
	To, Snapshot string
	Look         lookFlags
	Force        bool
	// Join sets this device up to continue the backups after the restore
	// (init --join with the restored directory as the source).
	Join JoinFlags
}

func newRestoreCommand(g *globalOptions) *cobra.Command {
	var opts RestoreOptions
	cmd := &cobra.Command{
		Use:   "restore --to DIR [--config FILE | --remote REMOTE] [--snapshot ID] [--recovery-key-file FILE] [--join]",
		Short: "Restore a snapshot into a new or empty directory",
		Long: `restore writes a snapshot (the newest by default) into DIR, which must be new or
empty unless --force is given. Every byte is authenticated before it is written;
each file appears atomically with its mode and modification time; a SQLite
database is restored as one consistent file.

On this device, --config (or the default config) finds the remote and the key.
On a new device, name the remote with --remote and give the recovery key with
--recovery-key-file (or type it when asked), or use your vault password.
With --join the new device then continues the backups into the same
repository (as init --join, with the restored directory as the source).`,
		Example: `  chatsafe restore --to ~/chats-restored
  chatsafe restore --remote gdrive:chatsafe --recovery-key-file key.txt --to ~/chats
  chatsafe restore --remote gdrive:chatsafe --recovery-key-file key.txt --to ~/chats --join`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRestore(cmd.Context(), opts, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&opts.To, "to", "", "directory to restore into (required; new or empty)")
	opts.Look.register(cmd)
	opts.Join.register(cmd)
	cmd.Flags().StringVar(&opts.Snapshot, "snapshot", "latest", "snapshot id or unique prefix")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "restore into a non-empty directory, replacing files")
	return cmd
}

func runRestore(ctx context.Context, opts RestoreOptions, g *globalOptions, stdout, stderr io.Writer) error {
	if opts.To == "" {
		return usageErr(errors.New("--to DIR is required"))
	}
	joinConfig := ""
	if opts.Join.Join {
		var err error
		if joinConfig, err = prepareRestoreJoin(&opts, g); err != nil {
			return err
		}
	}
	// Refuse a bad target before asking for a key or touching the network.
	if err := restore.CheckTarget(opts.To, opts.Force); err != nil {
		return usageErr(err)
	}
	p := prompt{g.stdin, stderr}
	lk, err := g.openLook(ctx, opts.Look, p)
	if err != nil {
		return err
	}
	defer lk.closeAll()
	r := lk.store
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
	res, err := restore.Run(ctx, r, restore.Options{Snapshot: opts.Snapshot, Target: opts.To, Force: opts.Force, Progress: progress})
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(stdout)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored snapshot %s (%s): %d files, %s into %s\n",
		res.Snapshot.ShortID(), res.Snapshot.Time.Local().Format("2006-01-02 15:04:05"), res.Files, humanBytes(res.Bytes), opts.To)
	if opts.Join.Join {
		return joinAfterRestore(ctx, opts, joinConfig, g, lk.key, stdout, stderr)
	}
	return nil
}
