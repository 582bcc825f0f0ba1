package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/browse"
)

// DiffOptions are the flags of `chatsafe diff`.
type DiffOptions struct {
	Repo repoFlags
	JSON bool
}

func newDiffCommand(g *globalOptions) *cobra.Command {
	var opts DiffOptions
	cmd := &cobra.Command{
		Use:   "diff SNAP1 SNAP2 [--json]",
		Short: "Show what changed between two snapshots",
		Long: `diff lists the paths added (+), removed (-) and changed (M) from SNAP1 to SNAP2
(id prefixes or "latest"), with their sizes; for a SQLite database, how many
pages changed. Directories the two snapshots share are skipped unread, and a
file's chunk lists are read only when its content differs; no file data is read.`,
		Example: `  chatsafe diff 1a2b3c4d latest
  chatsafe diff 1a2b 5e6f --json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDiff(cmd.Context(), opts, args, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	opts.Repo.register(cmd, false)
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON object per change (a stable, documented format)")
	return cmd
}

// changeJSON is the stable JSON form of one change (documented in the README).
type changeJSON struct {
	Path    string `json:"path"`
	Change  string `json:"change"`
	Kind    string `json:"kind"`
	OldSize uint64 `json:"old_size"`
	NewSize uint64 `json:"new_size"`
	Pages   *int   `json:"changed_pages,omitempty"`
}

func runDiff(ctx context.Context, opts DiffOptions, args []string, g *globalOptions, stdout, stderr io.Writer) error {
	r, closeAll, err := opts.Repo.open(ctx, g, stderr)
	if err != nil {
		return err
	}
	defer closeAll()
	a, err := r.FindSnapshot(args[0])
	if err != nil {
		return err
	}
	b, err := r.FindSnapshot(args[1])
	if err != nil {
		return err
	}
	if !opts.JSON {
		fmt.Fprintf(stderr, "comparing snapshot %s (%s) with %s (%s)\n", a.ShortID(), snapshotTime(a), b.ShortID(), snapshotTime(b))
	}
	enc := json.NewEncoder(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	sign := map[string]string{"added": "+", "removed": "-", "changed": "M"}
	ra, rb := browse.Root(a), browse.Root(b)
	err = browse.Diff(ctx, r, &ra, &rb, func(c browse.Change) error {
		if opts.JSON {
			j := changeJSON{Path: "/" + c.Path, Change: c.What, Kind: c.Kind.String(), OldSize: c.OldSize, NewSize: c.NewSize}
			if c.Pages >= 0 {
				j.Pages = &c.Pages
			}
			return enc.Encode(j)
		}
		size := humanBytes(int64(c.NewSize))
		switch c.What {
		case "removed":
			size = humanBytes(int64(c.OldSize))
		case "changed":
			size = humanBytes(int64(c.OldSize)) + " -> " + humanBytes(int64(c.NewSize))
		}
		extra := ""
		if c.Pages >= 0 {
			extra = fmt.Sprintf("%d pages changed", c.Pages)
		}
		fmt.Fprintf(tw, "%s\t/%s\t%s\t%s\n", sign[c.What], c.Path, size, extra)
		return nil
	})
	if err == nil {
		err = tw.Flush()
	}
	return partialResult(r, opts.Repo.Look.Remote, stderr, err)
}
