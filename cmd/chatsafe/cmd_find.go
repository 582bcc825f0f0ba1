package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/browse"
	"github.com/chatsafe/chatsafe/store"
)

// FindOptions are the flags of `chatsafe find`.
type FindOptions struct {
	Repo repoFlags
	JSON bool
}

func newFindCommand(g *globalOptions) *cobra.Command {
	var opts FindOptions
	cmd := &cobra.Command{
		Use:   "find PATTERN... [--json]",
		Short: "Find which snapshots hold matching paths",
		Long: `find lists, for every snapshot, the paths matching any PATTERN: a glob on the
whole path (with a slash, e.g. "media/*.jpg") or on the base name ("*.opus").
It reads directory trees only; a directory shared by snapshots is read once.`,
		Example: `  chatsafe find '*.opus'
  chatsafe find 'media/2026-11-*' --json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runFind(cmd.Context(), opts, args, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	opts.Repo.register(cmd, false)
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON object per match (a stable, documented format)")
	return cmd
}

// findJSON is the stable JSON form of one match (documented in the README).
type findJSON struct {
	Snapshot     string    `json:"snapshot"`
	SnapshotTime time.Time `json:"snapshot_time"`
	entryJSON
}

func runFind(ctx context.Context, opts FindOptions, patterns []string, g *globalOptions, stdout, stderr io.Writer) error {
	if err := browse.ValidPatterns(patterns); err != nil {
		return usageErr(err)
	}
	r, closeAll, err := opts.Repo.open(ctx, g, stderr)
	if err != nil {
		return err
	}
	defer closeAll()
	enc := json.NewEncoder(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if !opts.JSON {
		fmt.Fprintln(tw, "SNAPSHOT\tTIME\tKIND\tSIZE\tPATH")
	}
	matches := 0
	cr := browse.Cached(r)
	for _, snap := range r.Snapshots() {
		root := browse.Root(snap)
		err := browse.Walk(ctx, cr, "", &root, func(p string, n *store.Node) error {
			if p == "" || !matchesAny(patterns, p) {
				return nil
			}
			matches++
			if opts.JSON {
				return enc.Encode(findJSON{Snapshot: snap.IDString(), SnapshotTime: snap.Time, entryJSON: toEntryJSON(p, n)})
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t/%s\n", snap.ShortID(), snapshotTime(snap), n.Kind, humanBytes(int64(n.Size)), p)
			return nil
		})
		if err != nil {
			return err
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if matches == 0 && !opts.JSON {
		fmt.Fprintln(stderr, "no snapshot holds a matching path")
	}
	return partialResult(r, opts.Repo.Look.Remote, stderr, nil)
}

func matchesAny(patterns []string, p string) bool {
	for _, pat := range patterns {
		if browse.Match(pat, p) {
			return true
		}
	}
	return false
}
