package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/statusapi/client"
)

func init() {
	var configPath string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [--config FILE] [--json]",
		Short: "Show what the running daemon is doing",
		Long: `Ask the running daemon, over its status socket, what it is doing: its state,
the newest snapshot, deltas waiting for upload and each remote's queue.
--json prints the status document (stable; see statusapi.Status).
Exits 5 when no daemon is running.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sock, err := statusSocket(configPath)
			if err != nil {
				return err
			}
			c := client.New(sock)
			defer c.Close()
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printStatus(cmd.OutOrStdout(), st, time.Now())
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "config file (default "+configs.DefaultConfigPath()+")")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status document as JSON")
	rootCmd.AddCommand(cmd)
	backupHook = backupThroughDaemon
}

// backupThroughDaemon runs `chatsafe backup` in the running daemon, which
// holds the state directory; with no daemon the backup runs locally.
func backupThroughDaemon(cmd *cobra.Command, socket string, asJSON bool) (bool, error) {
	c := client.New(socket)
	defer c.Close()
	res, err := c.Backup(cmd.Context(), statusapi.BackupRequest{})
	if errors.Is(err, client.ErrNoDaemon) {
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("backup through the running daemon: %w", err)
	}
	out := cmd.OutOrStdout()
	if asJSON {
		if res.Warnings == nil {
			res.Warnings = []string{}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return true, enc.Encode(res)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
	}
	s := res.Snapshot
	switch {
	case s == nil:
		fmt.Fprintln(out, "the daemon ran a backup")
	case res.Unchanged:
		fmt.Fprintf(out, "nothing changed since snapshot %s (%d files, %s)\n", s.ShortID, s.Files, humanize.IBytes(s.Bytes))
	default:
		fmt.Fprintf(out, "snapshot %s saved by the daemon: %d files, %s; added %s; %d delta(s) waiting for upload\n",
			s.ShortID, s.Files, humanize.IBytes(s.Bytes), humanize.IBytes(uint64(res.AddedBytes)), res.PendingDeltas)
	}
	return true, nil
}

// statusSocket finds the daemon's socket: from the config file, or the
// default socket when there is no config at the default path.
func statusSocket(configPath string) (string, error) {
	if configPath == "" {
		configPath = configs.DefaultConfigPath()
		if _, err := os.Stat(configPath); errors.Is(err, fs.ErrNotExist) {
			return configs.Default().StatusSocket, nil
		}
	}
	cfg, err := configs.Load(configPath)
	if err != nil {
		return "", err
	}
	return cfg.StatusSocket, nil
}

func printStatus(w io.Writer, st statusapi.Status, now time.Time) {
	fmt.Fprintf(w, "chatsafe %s: %s (up %s, pid %d, key from %s)\n", st.Version, st.State,
		(time.Duration(st.UptimeS) * time.Second).String(), st.PID, st.KeySource)
	fmt.Fprintf(w, "source:    %s\n", st.Source)
	if s := st.LastSnapshot; s != nil {
		fmt.Fprintf(w, "snapshot:  %s  seq %d  %s  %s files, %s\n", s.ShortID, s.Seq,
			humanize.RelTime(s.Time, now, "ago", "from now"), humanize.Comma(int64(s.Files)), humanize.IBytes(s.Bytes))
	} else {
		fmt.Fprintln(w, "snapshot:  none yet")
	}
	fmt.Fprintf(w, "pending:   %d delta(s) not yet on every remote\n", st.PendingDeltas)
	if st.LastError != "" {
		fmt.Fprintf(w, "error:     %s\n", st.LastError)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range st.Remotes {
		var parts []string
		switch {
		case r.Uploading:
			parts = append(parts, fmt.Sprintf("uploading, %d queued", r.Queued))
		case r.Queued > 0:
			parts = append(parts, fmt.Sprintf("%d queued", r.Queued))
		default:
			parts = append(parts, "up to date")
		}
		if r.LastUpload != nil {
			parts = append(parts, "last upload "+humanize.RelTime(*r.LastUpload, now, "ago", "from now"))
		}
		if r.LastError != "" {
			parts = append(parts, "error: "+r.LastError)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.Name, r.Remote, strings.Join(parts, "; "))
	}
	if len(st.Remotes) > 0 {
		fmt.Fprintln(w, "remotes:")
		tw.Flush()
	}
}
