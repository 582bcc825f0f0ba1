package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/prune"
)

// PruneOptions are the flags of `chatsafe prune`.
type PruneOptions struct {
	Config string
	DryRun bool
}

func newPruneCommand(g *globalOptions) *cobra.Command {
	var opts PruneOptions
	cmd := &cobra.Command{
		Use:   "prune [--config FILE] [--dry-run]",
		Short: "Forget snapshots outside the retention policy and compact the repository",
		Long: `prune applies the config's retention policy (keep_last, keep_hourly, keep_daily,
keep_weekly, keep_monthly, with restic's meanings), rewrites the live data of
small or mostly-dead deltas into fewer, larger ones, and deletes what is no
longer needed from every remote. New objects are uploaded before old ones are
deleted, so an interrupted prune never loses a kept snapshot; run it again to
finish. The daemon runs it by itself (prune.every in the config).

--dry-run changes nothing and runs while the daemon does; a real prune needs
the daemon stopped (it holds the state directory). On a damaged repository
both refuse (exit 6), as a backup does.

Its stages (reading the kept snapshots, compacting, deleting) are shown on
stderr: a bar each on a terminal, a line each otherwise; stdout has the result
alone.`,
		Example: `  chatsafe prune --dry-run
  chatsafe prune`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPrune(cmd.Context(), opts, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	configFlag(cmd, &opts.Config)
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "say what would be done, change nothing")
	return cmd
}

func runPrune(ctx context.Context, opts PruneOptions, g *globalOptions, stdout, stderr io.Writer) error {
	// A dry run changes nothing: it opens read-only, without the state
	// lock, so it runs beside the daemon. A real prune needs the lock.
	cfg, err := g.loadConfig(opts.Config)
	if err != nil {
		return err
	}
	progress := newStageProgress("prune", stderr)
	log := cliLogger(stderr)
	inst, err := instance.Open(ctx, cfg, instance.Options{ReadOnly: opts.DryRun, Log: log, Retry: g.retry(log), Progress: progress.report})
	if err != nil {
		return err
	}
	defer inst.Close()
	res, err := prune.Run(ctx, inst.Store, prune.Options{
		Policy:    instance.RetentionPolicy(inst.Config),
		MaxUpload: int64(inst.Config.Prune.MaxUpload),
		DryRun:    opts.DryRun,
		Progress:  progress.report,
	})
	progress.finish()
	if err != nil {
		return err
	}
	if opts.DryRun {
		// A real prune stops on a take-over (exit 7); say it here too.
		warnTakenOver(inst.Store, stderr)
		fmt.Fprintf(stdout, "would forget %d of %d snapshots and compact %d deltas\n", res.Forgotten, len(res.Decisions), res.Rewritten)
		return nil
	}
	fmt.Fprintf(stdout, "forgot %d of %d snapshots; compacted %d deltas into %d (%s uploaded); deleted %d objects, freed %s\n",
		res.Forgotten, len(res.Decisions), res.Rewritten, res.Written, humanBytes(res.UploadedBytes), res.Deleted, humanBytes(res.FreedBytes))
	return nil
}
