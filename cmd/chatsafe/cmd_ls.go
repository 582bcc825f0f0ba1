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

// LsOptions are the flags of `chatsafe ls`.
type LsOptions struct {
	Repo            repoFlags
	Long, Recursive bool
	JSON            bool
}

func newLsCommand(g *globalOptions) *cobra.Command {
	var opts LsOptions
	cmd := &cobra.Command{
		Use:   "ls [SNAPSHOT] [PATH] [-l] [-R] [--json]",
		Short: "List the entries of a directory in a snapshot",
		Long: `ls lists a directory (or one entry) of a snapshot: the newest by default, or
SNAPSHOT (an id prefix or "latest"), or with --time the newest at or before
TIME (then the only argument is PATH). -l adds kind, size and modification
time; -R lists everything below. It reads directory trees only, never file data.`,
		Example: `  chatsafe ls
  chatsafe ls latest media -l
  chatsafe ls --time "2026-11-30 18:00" -R
  chatsafe ls --remote gdrive:chatsafe --recovery-key-file key.txt 1a2b3c4d`,
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLs(cmd.Context(), opts, args, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	opts.Repo.register(cmd, true)
	cmd.Flags().BoolVarP(&opts.Long, "long", "l", false, "show kind, size and modification time")
	cmd.Flags().BoolVarP(&opts.Recursive, "recursive", "R", false, "list everything below the directory")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON object per entry (a stable, documented format)")
	return cmd
}

// entryJSON is the stable JSON form of one entry (documented in the README).
type entryJSON struct {
	Path    string    `json:"path"`
	Kind    string    `json:"kind"`
	Size    uint64    `json:"size"`
	Mode    string    `json:"mode"`
	ModTime time.Time `json:"mtime"`
	Target  string    `json:"target,omitempty"`
}

func toEntryJSON(p string, n *store.Node) entryJSON {
	return entryJSON{Path: "/" + p, Kind: n.Kind.String(), Size: n.Size, Mode: n.Mode.String(), ModTime: time.Unix(0, n.ModTime).UTC(), Target: n.Target}
}

// snapshotAndPath splits the positional arguments: [SNAPSHOT] [PATH], or
// only [PATH] with --time.
func snapshotAndPath(repo *repoFlags, args []string) (spec, p string, err error) {
	if repo.Time != "" {
		if len(args) > 1 {
			return "", "", usageErr(fmt.Errorf("with --time give only PATH, not a snapshot too"))
		}
		if len(args) == 1 {
			p = args[0]
		}
		return "", p, nil
	}
	if len(args) > 0 {
		spec = args[0]
	}
	if len(args) > 1 {
		p = args[1]
	}
	return spec, p, nil
}

func runLs(ctx context.Context, opts LsOptions, args []string, g *globalOptions, stdout, stderr io.Writer) error {
	loc, err := opts.Repo.locate(ctx, g, stderr, args)
	if err != nil {
		return err
	}
	defer loc.closeAll()
	r, snap, p, n := loc.store, loc.snap, loc.path, loc.node
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	enc := json.NewEncoder(stdout)
	if !opts.JSON {
		fmt.Fprintf(stderr, "snapshot %s (%s)\n", snap.ShortID(), snapshotTime(snap))
	}
	err = browse.Walk(ctx, r, p, &n, func(q string, e *store.Node) error {
		if q == p && e.Kind == store.KindDir {
			return nil // the directory itself: list its entries
		}
		if opts.JSON {
			return enc.Encode(toEntryJSON(q, e))
		}
		name := "/" + q
		if e.Kind == store.KindDir {
			name += "/"
		}
		if e.Kind == store.KindSymlink {
			name += " -> " + e.Target
		}
		if opts.Long {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", e.Mode, e.Kind, e.Size, time.Unix(0, e.ModTime).Local().Format("2006-01-02 15:04:05"), name)
		} else {
			fmt.Fprintln(tw, name)
		}
		if e.Kind == store.KindDir && !opts.Recursive {
			return browse.SkipDir
		}
		return nil
	})
	if err == nil {
		err = tw.Flush()
	}
	return partialResult(r, opts.Repo.Look.Remote, stderr, err)
}
