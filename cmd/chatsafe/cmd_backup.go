package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/instance"
)

func init() {
	var config string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "backup [--config FILE]",
		Short: "Back up the chat directory once, now, and upload the delta",
		Long: `backup reads the chat directory, commits one snapshot as an encrypted delta and
uploads it to every remote. Unchanged files cost nothing; an unchanged directory
writes nothing. If a remote cannot be reached the delta waits in the local spool
and is uploaded by the next backup.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(config)
			if err != nil {
				return err
			}
			if err := cfg.Check(); err != nil {
				return err
			}
			if handled, err := backupViaDaemon(cmd, cfg, asJSON); handled {
				return err
			}
			inst, err := instance.Open(cmd.Context(), cfg, instance.Options{Log: cliLogger()})
			if err != nil {
				return err
			}
			defer inst.Close()
			opts := backup.Options{Source: cfg.Source, Exclude: cfg.Excluded}
			var bar *progressbar.ProgressBar
			if !asJSON && isTerminal(os.Stdout) {
				bar = progressbar.DefaultBytes(-1, "backing up")
				opts.Progress = func(files, read int64) { bar.Set64(read) }
			}
			res, err := backup.Run(cmd.Context(), inst.Store, opts)
			if bar != nil {
				bar.Finish()
				fmt.Fprintln(cmd.OutOrStdout())
			}
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s: %v\n", w.Path, w.Err)
			}
			uploaded, ferr := inst.Store.Sync(cmd.Context())
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(backupJSON(res, len(inst.Store.Pending()))); err != nil {
					return err
				}
			} else {
				printBackup(cmd, res, uploaded)
			}
			if ferr != nil {
				return fmt.Errorf("the snapshot is saved locally and will be uploaded by the next backup or the daemon: %w", ferr)
			}
			return nil
		},
	}
	configFlag(cmd, &config)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	rootCmd.AddCommand(cmd)
}

// backupHook lets the daemon's client take over `backup` when a daemon
// is running (set by the daemon client wiring); nil means always local.
var backupHook func(cmd *cobra.Command, cfgSocket string, asJSON bool) (handled bool, err error)

func backupViaDaemon(cmd *cobra.Command, cfg *configs.Config, asJSON bool) (bool, error) {
	if backupHook == nil {
		return false, nil
	}
	return backupHook(cmd, cfg.StatusSocket, asJSON)
}

type backupResultJSON struct {
	Snapshot   snapshotJSON `json:"snapshot"`
	Unchanged  bool         `json:"unchanged"`
	Deltas     int          `json:"deltas"`
	AddedBytes int64        `json:"added_bytes"`
	ReadBytes  int64        `json:"read_bytes"`
	Pending    int          `json:"pending_deltas"`
	Warnings   []string     `json:"warnings"`
}

func backupJSON(res *backup.Result, pending int) backupResultJSON {
	out := backupResultJSON{Snapshot: toSnapshotJSON(res.Snapshot), Unchanged: res.Unchanged, Deltas: res.Deltas, AddedBytes: res.AddedBytes, ReadBytes: res.ReadBytes, Pending: pending, Warnings: []string{}}
	for _, w := range res.Warnings {
		out.Warnings = append(out.Warnings, w.Path+": "+w.Err.Error())
	}
	return out
}

func printBackup(cmd *cobra.Command, res *backup.Result, uploaded int) {
	out := cmd.OutOrStdout()
	s := res.Snapshot
	if res.Unchanged {
		fmt.Fprintf(out, "nothing changed since snapshot %s (%d files, %s)\n", s.ShortID(), s.Files, humanBytes(int64(s.Bytes)))
		return
	}
	fmt.Fprintf(out, "snapshot %s saved: %d files, %s; read %s, added %s in %d delta(s), %d uploaded\n",
		s.ShortID(), s.Files, humanBytes(int64(s.Bytes)), humanBytes(res.ReadBytes), humanBytes(res.AddedBytes), res.Deltas, uploaded)
}
