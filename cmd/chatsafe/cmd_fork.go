package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/internal/cmdline"
	"github.com/chatsafe/chatsafe/store"
)

// ForkResolveOptions are the flags of `chatsafe fork resolve`.
type ForkResolveOptions struct {
	Config string
	Keep   string
}

func newForkCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fork",
		Short: "Resolve a forked history (two devices wrote at once)",
		Long: `When two devices commit on the same head, the history forks: check exits 6 and
names both branches, snapshots lists the snapshots of both, restore restores
either, and nothing of either branch is pruned until you resolve it.`,
		Example: `  chatsafe check
  chatsafe fork resolve --keep 3ddb85be`,
	}
	var opts ForkResolveOptions
	resolve := &cobra.Command{
		Use:   "resolve --keep DELTA-OR-SNAPSHOT [--config FILE]",
		Short: "End a fork with a merge that keeps every snapshot of both branches",
		Long: `resolve writes a merge delta whose parent is the kept branch's newest delta and
which lists every delta of both branches as live, so no snapshot either device
committed is lost; prune then applies retention as usual. --keep is a prefix of
a branch's delta id (as check prints it) or of a snapshot id only that branch
has. This device becomes the writer. Stop this device's daemon first.`,
		Example: `  chatsafe check
  chatsafe fork resolve --keep 3ddb85be`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runForkResolve(cmd.Context(), opts, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	configFlag(resolve, &opts.Config)
	resolve.Flags().StringVar(&opts.Keep, "keep", "", "the branch whose head the merge continues: a delta id or snapshot id prefix")
	resolve.MarkFlagRequired("keep")
	cmd.AddCommand(resolve)
	return cmd
}

func runForkResolve(ctx context.Context, opts ForkResolveOptions, g *globalOptions, stdout, stderr io.Writer) error {
	inst, err := g.openInstance(ctx, opts.Config, false, stderr)
	if err != nil {
		return err
	}
	defer inst.Close()
	// The merge makes this device the writer again, as takeover does
	// (which a fork refuses): say whom it takes the repository from.
	takenOver := warnTakenOver(inst.Store, stderr)
	kept, err := inst.Store.ResolveFork(ctx, opts.Keep)
	if err != nil {
		return err
	}
	if takenOver {
		fmt.Fprintf(stderr, "the merge makes this device the writer again, as %s does\n", g.installation(inst.Config.Path).Cmd("takeover"))
	}
	if _, err := inst.Store.Sync(ctx); err != nil {
		return fmt.Errorf("the merge is committed here but not uploaded yet (the daemon or the next backup uploads it): %w", err)
	}
	fmt.Fprintf(stdout, "fork resolved: kept the branch of delta %s (%s); every snapshot of both branches stays (%d in all)\n",
		kept.DeltaIDString()[:8], kept.Hostname, len(inst.Store.Snapshots()))
	return nil
}

// printFork describes a fork for check and snapshots.
func printFork(w io.Writer, f *store.Fork, in cmdline.Installation) {
	fmt.Fprintf(w, "FORK: the history is forked from sequence %d (two devices wrote at once); nothing is pruned until you run %s\n", f.Seq, in.Cmd("fork resolve --keep <delta id>"))
	for _, b := range f.Branches {
		fmt.Fprintf(w, "  branch: delta %s, sequence %d, by %s (device %x) at %s, %d snapshots:", b.DeltaIDString()[:8], b.Seq, b.Hostname, b.Device[:4], b.Time.Local().Format("2006-01-02 15:04:05"), len(b.Snapshots))
		for _, s := range b.Snapshots {
			fmt.Fprintf(w, " %s", s.ShortID())
		}
		fmt.Fprintln(w)
	}
}
