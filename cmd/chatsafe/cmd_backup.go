package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/statusapi/client"
	"github.com/chatsafe/chatsafe/store"
)

// BackupOptions are the flags of `chatsafe backup`.
type BackupOptions struct {
	Config string
	JSON   bool
	// Reseed names remotes to fill with the repository again (store.Reseed).
	Reseed []string
}

func newBackupCommand(g *globalOptions) *cobra.Command {
	var opts BackupOptions
	cmd := &cobra.Command{
		Use:   "backup [--config FILE] [--json] [--reseed NAME]...",
		Short: "Back up the chat directory once, now, and upload the delta",
		Long: `backup reads the chat directory, commits one snapshot as an encrypted delta and
uploads it to every remote. Unchanged files cost nothing; an unchanged directory
writes nothing. If a remote cannot be reached the delta waits in the local spool
and is uploaded by the next backup, which says so ("uploaded 1 delta that was
waiting: to nas"), also when nothing changed.

On a device that joined (restore --join, init --join), the first backup warns if
another device committed snapshots after the ones its chats came from: they may
hold what this device lacks, and the warning says how to get it (the backup goes
on; docs/switching-devices.md).

When this installation's daemon is running, the backup runs in the daemon (it
holds the state): backup asks its status first, and gives up with exit 5 when it
does not answer within 10 s (stopped or stuck), then waits for the cycle and for
the daemon's try to upload it (up to 2 minutes: an upload still going on then
goes on in the daemon, and backup exits 0; a remote out of reach, 5). A daemon
of another installation answering on the same socket is never used: the backup
then runs here, if this installation's state is free.

A remote that held the repository and now holds nothing (its drive or share not
mounted, its folder moved) is never filled again by itself: uploads there wait
until it is back. If it is a new, empty location on purpose (a replaced disk),
--reseed NAME fills it with the whole repository again.`,
		Example: `  chatsafe backup
  chatsafe backup --config ~/chatsafe/work.yaml --json
  chatsafe backup --reseed nas     # the remote "nas" is a new, empty disk: fill it`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBackup(cmd.Context(), opts, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	configFlag(cmd, &opts.Config)
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	cmd.Flags().StringArrayVar(&opts.Reseed, "reseed", nil, "fill the remote `NAME` with the repository again, though it lost it (a new, empty location on purpose; repeatable)")
	return cmd
}

func runBackup(ctx context.Context, opts BackupOptions, g *globalOptions, stdout, stderr io.Writer) error {
	cfg, err := g.loadConfig(opts.Config)
	if err != nil {
		return err
	}
	if err := cfg.Check(); err != nil {
		return err
	}
	c, _, err := g.daemonFor(ctx, cfg)
	switch {
	case err == nil:
		defer c.Close()
		return backupThroughDaemon(ctx, c, opts, stdout, stderr)
	case errors.Is(err, client.ErrNoDaemon):
		g.memory.collectAtLimit()
		return backupLocally(ctx, cfg, opts, g, stdout, stderr)
	case errors.Is(err, client.ErrNoAnswer):
		// It holds this installation's state: no backup can run here.
		return fmt.Errorf("%w; no backup ran", err)
	case errors.Is(err, errOtherInstallation):
		// Safe to run here only if no process (such as this installation's
		// own daemon, on another socket) holds our state: the local run
		// takes the state lock, and says so when it cannot.
		g.memory.collectAtLimit()
		lerr := backupLocally(ctx, cfg, opts, g, stdout, stderr)
		if errors.Is(lerr, store.ErrLocked) {
			return fmt.Errorf("%w; and this installation's state is in use, so the backup cannot run here either: %w", err, lerr)
		}
		if lerr == nil {
			fmt.Fprintf(stderr, "warning: %v; the backup ran here instead\n", err)
		}
		return lerr
	default:
		return fmt.Errorf("asking the daemon on %s: %w", cfg.StatusSocket, err)
	}
}

// backupLocally runs one backup cycle in this process and uploads.
func backupLocally(ctx context.Context, cfg *configs.Config, opts BackupOptions, g *globalOptions, stdout, stderr io.Writer) error {
	// On a device that joined with the vault, the key comes from there as
	// the daemon's does. With the first remote out of reach, the snapshot
	// goes into the spool as the daemon's would (FromState); the upload
	// then fails (exit 5) and the next backup or the daemon uploads it.
	log := cliLogger(stderr)
	inst, err := instance.Open(ctx, cfg, instance.Options{FetchKey: instance.FetchKeyFromVault, Log: log, Retry: g.retry(log), FromState: true})
	if err != nil {
		return whenInterrupted(ctx, err, notSaved)
	}
	defer inst.Close()
	if err := inst.Store.ReseedNamed(opts.Reseed); err != nil {
		return err
	}
	waiting := newWaitingUploads(inst.Store)
	bopts := backup.Options{Source: cfg.Source, Exclude: cfg.Excluded, FullReadEvery: time.Duration(cfg.Sync.FullReadEvery)}
	var bar *progressbar.ProgressBar
	if !opts.JSON && isTerminal(stdout) {
		bar = progressbar.DefaultBytes(-1, "backing up")
		bopts.Progress = func(files, read int64) { bar.Set64(read) }
	}
	res, err := backup.Run(ctx, inst.Store, bopts)
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(stdout)
	}
	if err != nil {
		return whenInterrupted(ctx, err, notSaved)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "warning: %s: %v\n", w.Path, w.Err)
	}
	if g := res.JoinGap; g != nil {
		fmt.Fprintf(stderr, "warning: %s\n", g)
	}
	uploaded, ferr := waiting.sync(ctx, inst.Store)
	if opts.JSON {
		if err := printBackupJSON(stdout, backupJSON(res, len(inst.Store.Pending()))); err != nil {
			return err
		}
	} else {
		printBackup(stdout, res, uploaded)
		waiting.print(stdout)
	}
	if ferr != nil && ctx.Err() != nil {
		return whenInterrupted(ctx, ferr, savedLocally)
	}
	if ferr != nil {
		return syncFailed(ferr)
	}
	if inc := res.Snapshot.Incomplete; len(inc) > 0 {
		return backup.IncompleteError(res.Snapshot.ShortID(), inc)
	}
	return nil
}

// What an interrupted local backup leaves: before its snapshot was
// committed (the delta being written is dropped; deltas committed before,
// and what they store, stay), and after.
const (
	notSaved     = "no snapshot was saved; the snapshots saved before are untouched, and the next backup takes one"
	savedLocally = "the snapshot is saved locally and will be uploaded by the next backup or the daemon"
)

// syncFailed is a local backup's error when its upload failed (err): a
// later backup uploads the snapshot unless the repository refused it (a
// take-over, an integrity failure, a fork, a key rotated), which stops
// every later upload too until the user acts (err says how).
func syncFailed(err error) error {
	switch exitCode(err) {
	case exitTakenOver, exitIntegrity, exitWrongKey:
		return fmt.Errorf("the snapshot is saved locally but is not uploaded, nor will later backups upload it until this is dealt with: %w", err)
	}
	return fmt.Errorf("%s: %w", savedLocally, err)
}

// backupThroughDaemon runs `chatsafe backup` in this installation's
// running daemon, which holds the state directory.
func backupThroughDaemon(ctx context.Context, c *client.Client, opts BackupOptions, stdout, stderr io.Writer) error {
	asJSON := opts.JSON
	res, err := c.Backup(ctx, statusapi.BackupRequest{Reseed: opts.Reseed, WaitUpload: true})
	if statusapi.ClassOf(err) != "" {
		// The backup's own error: it reads, and exits, as it would here.
		return err
	}
	if err != nil {
		// The daemon goes on with a backup it began; one it did not
		// begin, it takes at the next change or scan.
		return whenInterrupted(ctx, fmt.Errorf("backup through the running daemon: %w", err), "the daemon goes on backing up by itself (`chatsafe status` shows how it does)")
	}
	if asJSON {
		if err := printBackupJSON(stdout, daemonBackupJSON(res)); err != nil {
			return err
		}
		return failedThroughDaemon(res)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	s := res.Snapshot
	switch {
	case s == nil:
		fmt.Fprintln(stdout, "the daemon ran a backup")
	case res.Unchanged:
		fmt.Fprintf(stdout, "the daemon backed up: nothing changed since snapshot %s (%s, %s)\n", s.ShortID, plural(s.Files, "file"), humanize.IBytes(s.Bytes))
	default:
		fmt.Fprintf(stdout, "snapshot %s saved by the daemon: %s, %s; added %s; %s waiting for upload\n",
			s.ShortID, plural(s.Files, "file"), humanize.IBytes(s.Bytes), humanize.IBytes(uint64(res.AddedBytes)), plural(res.PendingDeltas, "delta"))
	}
	if len(res.Uploading) > 0 {
		fmt.Fprintf(stdout, "the upload to %s goes on in the daemon\n", strings.Join(quoted(res.Uploading), ", "))
	}
	return failedThroughDaemon(res)
}

// quoted is names, each in double quotes.
func quoted(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = fmt.Sprintf("%q", n)
	}
	return out
}

// failedThroughDaemon is the error of a backup the daemon ran, as the
// same backup run here would fail: a remote out of reach that the deltas
// wait for (exit 5, as syncFailed says it; the daemon's uploads go on),
// else paths it could not read (exit 8).
func failedThroughDaemon(res statusapi.BackupResult) error {
	if len(res.Unreachable) > 0 {
		errs := make([]error, len(res.Unreachable))
		for i, r := range res.Unreachable {
			errs[i] = errors.New(r.Error)
		}
		return fmt.Errorf("%s: %w", savedLocally, statusapi.WithClass(errors.Join(errs...), statusapi.ClassUnreachable))
	}
	return incompleteThroughDaemon(res.Snapshot)
}

// incompleteThroughDaemon is the error (exit 8) of a snapshot the daemon
// saved with paths it could not read.
func incompleteThroughDaemon(s *statusapi.Snapshot) error {
	if s == nil || len(s.Incomplete) == 0 {
		return nil
	}
	paths := make([]store.Omission, len(s.Incomplete))
	for i, o := range s.Incomplete {
		paths[i] = store.Omission{Path: o.Path, Reason: o.Reason}
	}
	return backup.IncompleteError(s.ShortID, paths)
}

// backupResultJSON is `backup --json`, one schema whether the backup ran
// here or in the daemon (README, "Scripting").
type backupResultJSON struct {
	Snapshot   snapshotJSON `json:"snapshot"`
	Unchanged  bool         `json:"unchanged"`
	Deltas     int          `json:"deltas"`
	AddedBytes int64        `json:"added_bytes"`
	ReadBytes  int64        `json:"read_bytes"`
	Pending    int          `json:"pending_deltas"`
	Warnings   []string     `json:"warnings"`
	// ByDaemon: the installation's daemon ran the backup and tried its
	// upload (what still waits follows in the background); false: this
	// command ran it and uploaded.
	ByDaemon bool `json:"by_daemon"`
}

func backupJSON(res *backup.Result, pending int) backupResultJSON {
	out := backupResultJSON{Snapshot: toSnapshotJSON(res.Snapshot), Unchanged: res.Unchanged, Deltas: res.Deltas, AddedBytes: res.AddedBytes, ReadBytes: res.ReadBytes, Pending: pending, Warnings: []string{}}
	for _, w := range res.Warnings {
		out.Warnings = append(out.Warnings, w.Path+": "+w.Err.Error())
	}
	if g := res.JoinGap; g != nil {
		out.Warnings = append(out.Warnings, g.String())
	}
	return out
}

// daemonBackupJSON is the daemon's answer in backupJSON's schema.
func daemonBackupJSON(res statusapi.BackupResult) backupResultJSON {
	out := backupResultJSON{Unchanged: res.Unchanged, Deltas: res.Deltas, AddedBytes: res.AddedBytes, ReadBytes: res.ReadBytes,
		Pending: res.PendingDeltas, Warnings: append([]string{}, res.Warnings...), ByDaemon: true}
	if s := res.Snapshot; s != nil {
		out.Snapshot = snapshotJSON{ID: s.ID, ShortID: s.ShortID, Seq: s.Seq, Time: s.Time, Hostname: s.Hostname, Device: s.Device,
			Source: s.Source, Files: s.Files, Bytes: s.Bytes}
		for _, o := range s.Incomplete {
			out.Snapshot.Incomplete = append(out.Snapshot.Incomplete, omissionJSON{Path: o.Path, Reason: o.Reason})
		}
	}
	return out
}

func printBackupJSON(w io.Writer, res backupResultJSON) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

func printBackup(out io.Writer, res *backup.Result, uploaded int) {
	s := res.Snapshot
	if res.Unchanged {
		fmt.Fprintf(out, "nothing changed since snapshot %s (%s, %s)\n", s.ShortID(), plural(s.Files, "file"), humanBytes(int64(s.Bytes)))
		return
	}
	fmt.Fprintf(out, "snapshot %s saved: %s, %s; read %s, added %s in %s, %d uploaded\n",
		s.ShortID(), plural(s.Files, "file"), humanBytes(int64(s.Bytes)), humanBytes(res.ReadBytes), humanBytes(res.AddedBytes), plural(res.Deltas, "delta"), uploaded)
}
