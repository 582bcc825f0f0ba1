package main

import (
	"context"
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
	"github.com/chatsafe/chatsafe/internal/cmdline"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/statusapi/client"
	"github.com/chatsafe/chatsafe/store"
)

// StatusOptions are the flags of `chatsafe status`.
type StatusOptions struct {
	Config string
	JSON   bool
}

func newStatusCommand(g *globalOptions) *cobra.Command {
	var opts StatusOptions
	cmd := &cobra.Command{
		Use:   "status [--config FILE] [--json]",
		Short: "Show what the running daemon is doing",
		Long: `Ask the running daemon, over its status socket, what it is doing: its state,
the newest snapshot, deltas waiting for upload and each remote's queue.
--json prints the status document (stable; README, "JSON output").
Exits 5 when no daemon is running, or when one takes the connection but
does not answer within 10 s (stopped with kill -STOP, in a suspended session,
stuck; the message names its pid and how to restart it; --retry-for does not
lengthen this wait), and 2 when the daemon answering on the socket serves
another installation (another config's repository). While the
daemon backs up nothing until you act, it prints the status and exits as a
backup would: 7 taken over (chatsafe takeover), 6 forked (chatsafe fork
resolve) or damaged (chatsafe repair). Every other state exits 0.`,
		Example: `  chatsafe status
  chatsafe status --config ~/chatsafe/work.yaml --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStatus(cmd.Context(), opts, g, cmd.OutOrStdout())
		},
	}
	configFlag(cmd, &opts.Config)
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the status document as JSON")
	return cmd
}

func runStatus(ctx context.Context, opts StatusOptions, g *globalOptions, stdout io.Writer) error {
	cfg, err := statusConfig(g, opts.Config)
	if err != nil {
		return err
	}
	c, st, err := g.daemonFor(ctx, cfg)
	if errors.Is(err, client.ErrNoDaemon) && cfg.Path == "" {
		// The embedded defaults: there is no config either, and a daemon
		// needs one first.
		return fmt.Errorf("%w; and %w", err, g.noConfig())
	}
	if err != nil {
		return err
	}
	c.Close()
	in := g.installation(cfg.Path)
	if opts.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			return err
		}
		return stateError(st, in)
	}
	printStatus(stdout, st, time.Now(), in)
	return stateError(st, in)
}

// stateError is the error status exits with while the daemon backs up
// nothing until the user acts, with the code a backup would exit with
// then (README, "Exit codes"); nil in every other state, those the
// daemon gets out of by itself (error, offline) included. in is the
// installation, whose commands it names.
func stateError(st statusapi.Status, in cmdline.Installation) error {
	switch st.State {
	case statusapi.StateTakenOver:
		who := "another device"
		if t := st.TakenOver; t != nil {
			who = deviceLabel(t.Hostname, t.Device)
		}
		return fmt.Errorf("%w: %s; this device backs up nothing until %s", store.ErrTakenOver, who, in.Cmd("takeover"))
	case statusapi.StateForked:
		return fmt.Errorf("%w; this device backs up nothing until %s", store.ErrFork, in.Cmd("fork resolve"))
	case statusapi.StateDamaged:
		return fmt.Errorf("%w: the repository is damaged; this device backs up nothing until %s", store.ErrIntegrity, in.Cmd("repair"))
	}
	return nil
}

// statusConfig is the config whose daemon `status` asks: --config, the
// default config, or the embedded defaults when there is no config at the
// default path (a daemon started with --source alone).
func statusConfig(g *globalOptions, flag string) (*configs.Config, error) {
	if flag == "" {
		if _, err := os.Stat(g.defaultConfig); errors.Is(err, fs.ErrNotExist) {
			return configs.Default(), nil
		}
	}
	return g.loadConfig(g.configPath(flag))
}

func printStatus(w io.Writer, st statusapi.Status, now time.Time, in cmdline.Installation) {
	key := ""
	if st.KeySource != "" { // none before the repository opens
		key = ", key from " + st.KeySource
	}
	fmt.Fprintf(w, "chatsafe %s: %s (up %s, pid %d%s)\n", st.Version, st.State,
		(time.Duration(st.UptimeS) * time.Second).String(), st.PID, key)
	fmt.Fprintf(w, "source:    %s\n", st.Source)
	if s := st.LastSnapshot; s != nil {
		fmt.Fprintf(w, "snapshot:  %s  seq %d  %s  %s, %s\n", s.ShortID, s.Seq,
			humanize.RelTime(s.Time, now, "ago", "from now"), plural(s.Files, "file"), humanize.IBytes(s.Bytes))
		if by := snapshotBy(st, s); by != "" {
			fmt.Fprintf(w, "  by %s\n", by)
		}
		for _, o := range s.Incomplete {
			fmt.Fprintf(w, "unread:    %s: %s\n", o.Path, o.Reason)
		}
	} else {
		fmt.Fprintln(w, "snapshot:  none yet")
	}
	// This device's own deltas; a remote's queue also counts the deltas
	// it gets copied from the first remote (a remote added later).
	fmt.Fprintf(w, "pending:   %d delta(s) in this device's spool, waiting for upload\n", st.PendingDeltas)
	if o := st.Offline; o != nil {
		fmt.Fprintf(w, "offline:   %s waiting to upload (backed up while the first remote is out of reach; checked against it before any upload)\n", plural(o.Snapshots, "snapshot"))
	}
	if t := st.TakenOver; t != nil && !strings.HasPrefix(st.LastError, "taken over") {
		fmt.Fprintf(w, "taken over: %s\n", statusapi.TakenOverText(t, in))
	}
	if st.LastError != "" {
		fmt.Fprintf(w, "error:     %s\n", st.LastError)
	}
	if v := st.Vault; v != nil && v.Warning != "" {
		fmt.Fprintf(w, "vault:     %s\n", v.Warning)
	}
	for _, m := range st.Warnings {
		fmt.Fprintf(w, "warning:   %s\n", m)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range st.Remotes {
		var parts []string
		switch {
		case r.Uploading:
			parts = append(parts, fmt.Sprintf("uploading, %d queued", r.Queued))
		case r.Queued > 0:
			parts = append(parts, fmt.Sprintf("%d queued", r.Queued))
		case st.State == statusapi.StateOffline:
			// Nothing is known of what it holds until the repository opens.
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

// snapshotBy says who took snapshot s and of which directory: after a
// take-over the newest snapshot is the other device's, of its source,
// beside this device's own source.
func snapshotBy(st statusapi.Status, s *statusapi.Snapshot) string {
	if s.Hostname == "" && s.Device == "" { // written before format 3
		return ""
	}
	by := deviceLabel(s.Hostname, s.Device)
	if s.Source != "" {
		by += ", source " + s.Source
	}
	if t := st.TakenOver; t != nil && t.Device == s.Device {
		by += " (the device that took over, not this one)"
	}
	return by
}
