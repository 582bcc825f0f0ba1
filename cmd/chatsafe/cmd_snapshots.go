package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/internal/cmdline"
	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/store"
)

// snapshotJSON is the stable JSON form of a snapshot (documented in the README).
type snapshotJSON struct {
	ID       string    `json:"id"`
	ShortID  string    `json:"short_id"`
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Hostname string    `json:"hostname"`
	Device   string    `json:"device,omitempty"` // the id (hex) of the device that took it; absent before format 3
	// Branch is the head delta id of the fork branch holding the snapshot,
	// while the history is forked; absent otherwise.
	Branch string `json:"branch,omitempty"`
	Source string `json:"source"`
	Files  uint64 `json:"files"`
	Bytes  uint64 `json:"bytes"`
	// Keep and KeepReasons: the retention policy's verdict (what the next
	// prune does); absent where no policy applies.
	Keep        *bool    `json:"keep,omitempty"`
	KeepReasons []string `json:"keep_reasons,omitempty"`
	// Incomplete: the paths that could not be read for this snapshot
	// (each kept its previous version); absent when it is complete.
	Incomplete []omissionJSON `json:"incomplete,omitempty"`
}

type omissionJSON struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

func toSnapshotJSON(s store.Snapshot) snapshotJSON {
	j := snapshotJSON{ID: s.IDString(), ShortID: s.ShortID(), Seq: s.Seq, Time: s.Time, Hostname: s.Hostname, Source: s.Source, Files: s.Files, Bytes: s.Bytes}
	if s.Device != ([16]byte{}) {
		j.Device = hex.EncodeToString(s.Device[:])
	}
	for _, o := range s.Incomplete {
		j.Incomplete = append(j.Incomplete, omissionJSON{Path: o.Path, Reason: o.Reason})
	}
	return j
}

// forkBranches maps each snapshot of a fork's branches to its branch's
// head delta id.
func forkBranches(f *store.Fork) map[[16]byte]string {
	m := map[[16]byte]string{}
	if f != nil {
		for _, b := range f.Branches {
			for _, s := range b.Snapshots {
				m[s.ID] = b.DeltaIDString()
			}
		}
	}
	return m
}

// SnapshotsOptions are the flags of `chatsafe snapshots`.
type SnapshotsOptions struct {
	Look lookFlags
	JSON bool
}

func newSnapshotsCommand(g *globalOptions) *cobra.Command {
	var opts SnapshotsOptions
	cmd := &cobra.Command{
		Use:   "snapshots [--config FILE | --remote REMOTE --recovery-key-file FILE] [--json]",
		Short: "List the snapshots in the repository",
		Long: `snapshots lists the committed snapshots, oldest first, with what the retention
policy keeps each one for. It reads the repository itself (not the daemon),
without locking it, so it works beside a running daemon. With --remote and a
key (--recovery-key-file or the vault flags) it needs no config at all.`,
		Example: `  chatsafe snapshots
  chatsafe snapshots --json
  chatsafe snapshots --remote gdrive:chatsafe --recovery-key-file key.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSnapshots(cmd.Context(), opts, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	opts.Look.register(cmd)
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON (a stable, documented format)")
	return cmd
}

func runSnapshots(ctx context.Context, opts SnapshotsOptions, g *globalOptions, stdout, stderr io.Writer) error {
	lk, err := g.openLook(ctx, opts.Look, prompt{g.stdin, stderr})
	if err != nil {
		return err
	}
	defer lk.closeAll()
	fork := lk.store.Fork()
	if fork != nil {
		printFork(stderr, fork, lk.in)
	}
	// Without a config the default retention policy is shown: the writing
	// device's own may differ.
	err = printSnapshots(stdout, lk.store.Snapshots(), instance.RetentionPolicy(lk.cfg), opts.JSON, fork, lk.in)
	return partialResult(lk.store, opts.Look.Remote, stderr, err)
}

func printSnapshots(out io.Writer, snaps []store.Snapshot, policy prune.Policy, asJSON bool, fork *store.Fork, in cmdline.Installation) error {
	branch := forkBranches(fork)
	verdict := map[string]prune.Decision{}
	for _, d := range prune.ApplyPolicy(snaps, policy) {
		verdict[d.Snapshot.IDString()] = d
	}
	if asJSON {
		list := make([]snapshotJSON, 0, len(snaps))
		for _, s := range snaps {
			j := toSnapshotJSON(s)
			j.Branch = branch[s.ID]
			d := verdict[s.IDString()]
			j.Keep, j.KeepReasons = &d.Keep, d.Reasons
			list = append(list, j)
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	if len(snaps) == 0 {
		fmt.Fprintf(out, "no snapshots yet (run %s)\n", in.Cmd("backup"))
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tSEQ\tFILES\tSIZE\tHOST\tDEVICE\tKEPT BY")
	for _, s := range snaps {
		why := "(forgotten at next prune)"
		if d := verdict[s.IDString()]; d.Keep {
			why = strings.Join(d.Reasons, ", ")
		}
		if b := branch[s.ID]; b != "" {
			why = "fork branch " + b[:8] + " (kept until resolved)"
		}
		dev := "-"
		if s.Device != ([16]byte{}) {
			dev = hex.EncodeToString(s.Device[:4])
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", s.ShortID(), s.Time.Local().Format("2006-01-02 15:04:05"), s.Seq, s.Files, humanBytes(int64(s.Bytes)), s.Hostname, dev, why)
	}
	return tw.Flush()
}
