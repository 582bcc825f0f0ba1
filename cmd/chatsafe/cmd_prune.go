package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/internal/cmdline"
	"github.com/chatsafe/chatsafe/prune"
)

// PruneOptions are the flags of `chatsafe prune`.
type PruneOptions struct {
	Config string
	DryRun bool
	// ForgetDevices: devices whose newest snapshot the policy alone
	// decides this time (prune.Policy.ForgetDevices).
	ForgetDevices []string
}

func newPruneCommand(g *globalOptions) *cobra.Command {
	var opts PruneOptions
	cmd := &cobra.Command{
		Use:   "prune [--config FILE] [--dry-run] [--forget-device ID]...",
		Short: "Forget snapshots outside the retention policy and compact the repository",
		Long: `prune applies the config's retention policy (keep_last, keep_hourly, keep_daily,
keep_weekly, keep_monthly, with restic's meanings), rewrites the live data of
small or mostly-dead deltas into fewer, larger ones, and deletes what is no
longer needed from every remote. New objects are uploaded before old ones are
deleted, so an interrupted prune never loses a kept snapshot; run it again to
finish. The daemon runs it by itself (prune.every in the config).

Whatever the policy says, the newest snapshot of every device other than the
one writing the repository now is kept (KEPT BY "newest of device HOST/ID" in
chatsafe snapshots): a device switched away from may have backed up messages
the new one never had. Once you no longer need it (restored what you wanted
from it, or it holds nothing more), --forget-device ID lets the policy alone
decide that device's snapshots, in this run.

--dry-run changes nothing and runs while the daemon does; a real prune needs
the daemon stopped (it holds the state directory). On a damaged repository
both refuse (exit 6), as a backup does.

Its stages (reading the kept snapshots, compacting, deleting) are shown on
stderr: a bar each on a terminal, a line each otherwise; stdout has the result
alone.`,
		Example: `  chatsafe prune --dry-run
  chatsafe prune
  chatsafe prune --forget-device 5890c974   # the old phone's last snapshot is no longer needed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPrune(cmd.Context(), opts, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	configFlag(cmd, &opts.Config)
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "say what would be done, change nothing")
	cmd.Flags().StringArrayVar(&opts.ForgetDevices, "forget-device", nil, "no longer keep the newest snapshot of the device `ID` (as chatsafe snapshots shows it) beyond the policy; repeatable")
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
	policy := instance.RetentionPolicy(inst.Config)
	policy.ForgetDevices = opts.ForgetDevices
	res, err := prune.Run(ctx, inst.Store, prune.Options{
		Policy:    policy,
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
		printDeviceKeeps(stdout, res.Decisions, "keeps", g.installation(cfg.Path))
		return nil
	}
	fmt.Fprintf(stdout, "forgot %d of %d snapshots; compacted %d deltas into %d (%s uploaded); deleted %d objects, freed %s\n",
		res.Forgotten, len(res.Decisions), res.Rewritten, res.Written, humanBytes(res.UploadedBytes), res.Deleted, humanBytes(res.FreedBytes))
	printDeviceKeeps(stdout, res.Decisions, "kept", g.installation(cfg.Path))
	return nil
}

// printDeviceKeeps names each snapshot kept only as the newest of a
// device that no longer writes, and how to let it go.
func printDeviceKeeps(out io.Writer, decisions []prune.Decision, verb string, in cmdline.Installation) {
	for _, d := range decisions {
		if d.NewestOf == "" || d.ByPolicy {
			continue
		}
		s := d.Snapshot
		fmt.Fprintf(out, "%s snapshot %s (sequence %d, %s) beyond the policy: the newest of device %s, which no longer writes this repository (%s lets it go)\n",
			verb, s.ShortID(), s.Seq, s.Time.Local().Format("2006-01-02 15:04:05"), d.NewestOf, in.Cmd("prune --forget-device "+cmdline.Quote(d.NewestOf)))
	}
}
