package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/browse"
	"github.com/chatsafe/chatsafe/store"
)

// DumpOptions are the flags of `chatsafe dump`.
type DumpOptions struct {
	Repo repoFlags
}

func newDumpCommand(g *globalOptions) *cobra.Command {
	var opts DumpOptions
	cmd := &cobra.Command{
		Use:   "dump (SNAPSHOT | --time TIME) PATH",
		Short: "Write one file, or a directory as tar, from a snapshot to stdout",
		Long: `dump writes PATH from a snapshot to stdout: a file as it was, a SQLite database
as one consistent database file (open it with sqlite3), a directory as a tar
stream. SNAPSHOT is an id prefix or "latest"; with --time, the newest snapshot
at or before TIME. Only the file's own chunks are fetched.`,
		Example: `  chatsafe dump latest msgstore.db > msgstore.db
  chatsafe dump --time "2026-11-30 18:00" media/voice/note.opus > note.opus
  chatsafe dump 1a2b3c4d media > media.tar`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDump(cmd.Context(), opts, args, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	opts.Repo.register(cmd, true)
	return cmd
}

func runDump(ctx context.Context, opts DumpOptions, args []string, g *globalOptions, stdout, stderr io.Writer) error {
	if opts.Repo.Time == "" && len(args) != 2 {
		return usageErr(fmt.Errorf("give SNAPSHOT and PATH (or --time TIME and PATH)"))
	}
	loc, err := opts.Repo.locate(ctx, g, stderr, args)
	if err != nil {
		return err
	}
	defer loc.closeAll()
	r, snap, p, n := loc.store, loc.snap, loc.path, loc.node
	switch n.Kind {
	case store.KindDir:
		return partialResult(r, opts.Repo.Look.Remote, stderr, browse.Tar(ctx, r, &n, stdout))
	case store.KindSymlink:
		return usageErr(fmt.Errorf("%s is a symbolic link to %s in snapshot %s; dump its target instead", p, n.Target, snap.ShortID()))
	}
	f, err := browse.Open(ctx, r, &n)
	if err != nil {
		return err
	}
	_, err = f.WriteTo(ctx, stdout)
	return partialResult(r, opts.Repo.Look.Remote, stderr, err)
}
