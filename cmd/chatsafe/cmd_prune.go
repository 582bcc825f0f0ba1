package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/prune"
)

func init() {
	var config string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "prune [--config FILE] [--dry-run]",
		Short: "Forget snapshots outside the retention policy and compact the repository",
		Long: `prune applies the config's retention policy (keep_last, keep_hourly, keep_daily,
keep_weekly, keep_monthly, with restic's meanings), rewrites the live data of
small or mostly-dead deltas into fewer, larger ones, and deletes what is no
longer needed from every remote. New objects are uploaded before old ones are
deleted, so an interrupted prune never loses a kept snapshot; run it again to
finish. The daemon runs it by itself (prune.every in the config).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			inst, err := openInstance(cmd, config, false)
			if err != nil {
				return err
			}
			defer inst.Close()
			res, err := prune.Run(cmd.Context(), inst.Store, prune.Options{
				Policy:    instance.RetentionPolicy(inst.Config),
				MaxUpload: int64(inst.Config.Prune.MaxUpload),
				DryRun:    dryRun,
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if dryRun {
				fmt.Fprintf(out, "would forget %d of %d snapshots and compact %d deltas\n", res.Forgotten, len(res.Decisions), res.Rewritten)
				return nil
			}
			fmt.Fprintf(out, "forgot %d of %d snapshots; compacted %d deltas into %d (%s uploaded); deleted %d objects, freed %s\n",
				res.Forgotten, len(res.Decisions), res.Rewritten, res.Written, humanBytes(res.UploadedBytes), res.Deleted, humanBytes(res.FreedBytes))
			return nil
		},
	}
	configFlag(cmd, &config)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say what would be done, change nothing")
	rootCmd.AddCommand(cmd)
}
