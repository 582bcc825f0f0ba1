package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/browse"
	"github.com/chatsafe/chatsafe/restore"
)

// RestoreOptions are the flags of `chatsafe restore`.
type RestoreOptions struct {
	To, Snapshot string
	Look         lookFlags
	Force        bool
	// Delete (with Force) removes what the target holds under the
	// restored paths but the snapshot does not.
	Delete bool
	// Join sets this device up to continue the backups after the restore
	// (init --join with the restored directory as the source).
	Join JoinFlags
	// Include and Exclude restore part of the snapshot (globs on the path
	// or the base name); Time picks the newest snapshot at or before it.
	Include, Exclude []string
	Time             string
}

func newRestoreCommand(g *globalOptions) *cobra.Command {
	var opts RestoreOptions
	cmd := &cobra.Command{
		Use:   "restore --to DIR [--config FILE | --remote REMOTE] [--snapshot ID] [--recovery-key-file FILE] [--force [--delete]] [--join]",
		Short: "Restore a snapshot into a new or empty directory",
		Long: `restore writes a snapshot (the newest by default) into DIR, which must be new or
empty unless --force is given. Every byte is authenticated before it is written;
each file appears atomically with its mode and modification time; a SQLite
database is restored as one consistent file.

On this device, --config (or the default config) finds the remote and the key.
On a new device, name the remote with --remote and give the recovery key with
--recovery-key-file (or type it when asked), or use your vault password.
With --join the new device then continues the backups into the same
repository (as init --join, with the restored directory as the source).

--time restores the newest snapshot at or before TIME; --include and --exclude
(globs on the path, or on the base name; repeatable) restore part of it, with the
same verification as a full restore.

With --force into a directory that holds files (stop the chat app first), each
file of the snapshot replaces the one there; a database's old -wal, -shm and
-journal are removed (SQLite would apply them to the restored database). Files
the snapshot does not hold are kept and listed; --delete removes them, and the
directories they leave empty, under the restored paths only (never what
--include/--exclude leave out, never through a symlink). Files no snapshot can
hold are always kept, and counted apart: what the config's exclude: leaves out
of the backup, and what the snapshot lists as unreadable to the backup.

A restore that fails part-way (a damaged delta, a full disk, Ctrl-C) keeps
the files it restored, each whole and verified, and says how many of how many
that is: fix the cause and run it again with --force. docs/restore.md has more.`,
		Example: `  chatsafe restore --to ~/chats-restored
  chatsafe restore --to ~/db-yesterday --time "2026-11-30 18:00" --include msgstore.db
  chatsafe restore --to ~/chats --snapshot 3f2a9c1d --force --delete
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
	cmd.Flags().BoolVar(&opts.Delete, "delete", false, "with --force: delete files under the restored paths that are not in the snapshot")
	cmd.Flags().StringArrayVar(&opts.Include, "include", nil, "restore only paths matching this glob (on the path, or the base name); repeatable")
	cmd.Flags().StringArrayVar(&opts.Exclude, "exclude", nil, "do not restore paths matching this glob; repeatable")
	cmd.Flags().StringVar(&opts.Time, "time", "", `restore the newest snapshot at or before TIME (RFC 3339 or local "2006-01-02 15:04")`)
	return cmd
}

func runRestore(ctx context.Context, opts RestoreOptions, g *globalOptions, stdout, stderr io.Writer) error {
	if opts.To == "" {
		return usageErr(errors.New("--to DIR is required"))
	}
	if opts.Delete && !opts.Force {
		return usageErr(restore.ErrDeleteWithoutForce)
	}
	joinConfig := ""
	if opts.Join.Join {
		var err error
		if joinConfig, err = prepareRestoreJoin(&opts, g); err != nil {
			return err
		}
	}
	at, err := restoreTime(opts)
	if err != nil {
		return err
	}
	if err := browse.ValidPatterns(append(append([]string(nil), opts.Include...), opts.Exclude...)); err != nil {
		return usageErr(err)
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
	ropts := restore.Options{Snapshot: opts.Snapshot, Time: at, Include: opts.Include, Exclude: opts.Exclude, Target: opts.To, Force: opts.Force, Delete: opts.Delete, Progress: progress}
	if opts.Look.Remote == "" {
		// The installation's config: what its exclude: leaves out of
		// every backup is never deleted as missing from the snapshot.
		ropts.BackupExclude = lk.cfg.Excluded
	}
	res, err := restore.Run(ctx, r, ropts)
	if bar != nil {
		if err != nil {
			bar.Exit() // as far as it got: a full bar would contradict the error
		} else {
			bar.Finish()
		}
		fmt.Fprintln(stdout)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored snapshot %s (%s): %s, %s into %s\n",
		res.Snapshot.ShortID(), res.Snapshot.Time.Local().Format("2006-01-02 15:04:05"), plural(res.Files, "file"), humanBytes(res.Bytes), opts.To)
	printRestoreCleanup(stdout, res, opts.To)
	if opts.Join.Join {
		if err := joinAfterRestore(ctx, opts, joinConfig, g, lk.key, res.Snapshot.Seq, stdout, stderr); err != nil {
			return err
		}
	}
	// Joined, the device has its config now: the store's advice holds.
	noConfig := opts.Look.Remote
	if opts.Join.Join {
		noConfig = ""
	}
	return partialResult(r, noConfig, stderr, nil)
}

// restoreTime parses --time ("" is the zero time: the snapshot flag
// decides); --time and a --snapshot other than latest exclude each other.
func restoreTime(opts RestoreOptions) (time.Time, error) {
	if opts.Time == "" {
		return time.Time{}, nil
	}
	if opts.Snapshot != "latest" && opts.Snapshot != "" {
		return time.Time{}, usageErr(errors.New("give either --snapshot or --time, not both"))
	}
	t, err := browse.ParseTime(opts.Time)
	if err != nil {
		return time.Time{}, usageErr(err)
	}
	return t, nil
}

// printRestoreCleanup says what a restore with --force found in its
// target: the old databases' SQLite companions it removed, and what the
// snapshot does not hold (kept, or with --delete deleted).
func printRestoreCleanup(w io.Writer, res *restore.Result, target string) {
	if len(res.Companions) > 0 {
		fmt.Fprintf(w, "removed %s left beside the restored databases (SQLite would have applied them to the restored data): %s\n",
			plural(len(res.Companions), "SQLite file"), strings.Join(res.Companions, ", "))
	}
	if res.ExtraFiles > 0 || res.ExtraDirs > 0 {
		what, names := filesAndDirs(res.ExtraFiles, res.ExtraDirs, res.Extra, res.ExtraFiles)
		if res.Deleted {
			fmt.Fprintf(w, "deleted %s under %s that the snapshot does not hold%s\n", what, target, names)
		} else {
			fmt.Fprintf(w, "kept %s under %s that the snapshot does not hold (--delete removes them)%s\n", what, target, names)
		}
	}
	if res.KeptFiles > 0 || res.KeptDirs > 0 {
		// Never deleted: no snapshot holds them, so this is their only copy.
		what, names := filesAndDirs(res.KeptFiles, res.KeptDirs, res.Kept, res.KeptFiles+res.KeptDirs)
		fmt.Fprintf(w, "kept %s under %s that the backup excludes or could not read%s\n", what, target, names)
	}
}

// filesAndDirs says "N files and M directories", and ": " and the names
// listed, the first of named entries, with how many more there are.
func filesAndDirs(files, dirs int, listed []string, named int) (what, names string) {
	what = plural(files, "file")
	switch {
	case dirs == 1:
		what += " and 1 directory"
	case dirs > 1:
		what += fmt.Sprintf(" and %d directories", dirs)
	}
	names = strings.Join(listed, ", ")
	if more := named - len(listed); more > 0 {
		names += fmt.Sprintf(", and %d more", more)
	}
	if names != "" {
		names = ": " + names
	}
	return what, names
}
