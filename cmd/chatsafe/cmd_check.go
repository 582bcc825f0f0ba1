package main

import (
	"context"
	"fmt"
	"io"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/check"
)

// CheckOptions are the flags of `chatsafe check`.
type CheckOptions struct {
	Look     lookFlags
	ReadData bool
}

func newCheckCommand(g *globalOptions) *cobra.Command {
	var opts CheckOptions
	cmd := &cobra.Command{
		Use:   "check [--config FILE | --remote REMOTE --recovery-key-file FILE] [--read-data]",
		Short: "Verify the repository's structure, or every byte with --read-data",
		Long: `check verifies the repository on the first remote: the config, every delta's
trailer, the snapshot chain (missing, replaced or replayed deltas, a rollback),
and every directory and chunk list of every snapshot. With --read-data it also
downloads every delta and authenticates every blob. Exit code 6 means damage was
found, or a forked history (two devices wrote at once: both branches are
named); the message names the object. It does not lock the repository, so it
runs beside the daemon. With --remote and a key (--recovery-key-file or the
vault flags) it needs no config.`,
		Example: `  chatsafe check
  chatsafe check --read-data`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCheck(cmd.Context(), opts, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	opts.Look.register(cmd)
	cmd.Flags().BoolVar(&opts.ReadData, "read-data", false, "download and verify every byte")
	return cmd
}

func runCheck(ctx context.Context, opts CheckOptions, g *globalOptions, stdout, stderr io.Writer) error {
	lk, err := g.openLook(ctx, opts.Look, prompt{g.stdin, stderr})
	if err != nil {
		return err
	}
	defer lk.closeAll()
	var bar *progressbar.ProgressBar
	copts := check.Options{ReadData: opts.ReadData}
	if opts.ReadData && isTerminal(stdout) {
		copts.Progress = func(done, total int64) {
			if bar == nil {
				bar = progressbar.DefaultBytes(total, "reading")
			}
			bar.Set64(done)
		}
	}
	res, err := check.Run(ctx, lk.store, copts)
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(stdout)
	}
	if res.Fork != nil {
		printFork(stderr, res.Fork)
	}
	for _, e := range res.Errors[min(1, len(res.Errors)):] {
		fmt.Fprintln(stderr, "error:", e)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "no errors: %s, %s, %s", plural(res.Snapshots, "snapshot"), plural(res.Deltas, "delta"), plural(res.Blobs, "blob"))
	if opts.ReadData {
		fmt.Fprintf(stdout, ", %s read and verified", humanBytes(res.ReadBytes))
	}
	fmt.Fprintln(stdout)
	if len(res.Garbage) > 0 {
		fmt.Fprintf(stdout, "%d unreferenced objects (left by an interrupted prune; `chatsafe prune` removes them)\n", len(res.Garbage))
	}
	return nil
}
