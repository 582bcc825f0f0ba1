package main

import (
	"fmt"
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/check"
)

func init() {
	var config string
	var readData bool
	cmd := &cobra.Command{
		Use:   "check [--config FILE] [--read-data]",
		Short: "Verify the repository's structure, or every byte with --read-data",
		Long: `check verifies the repository on the first remote: the config, every delta's
trailer, the snapshot chain (missing, replaced or replayed deltas, a rollback),
and every directory and chunk list of every snapshot. With --read-data it also
downloads every delta and authenticates every blob. Exit code 6 means damage was
found; the message names the object.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			inst, err := openInstance(cmd, config, true)
			if err != nil {
				return err
			}
			defer inst.Close()
			var bar *progressbar.ProgressBar
			opts := check.Options{ReadData: readData}
			if readData && isTerminal(os.Stdout) {
				opts.Progress = func(done, total int64) {
					if bar == nil {
						bar = progressbar.DefaultBytes(total, "reading")
					}
					bar.Set64(done)
				}
			}
			res, err := check.Run(cmd.Context(), inst.Store, opts)
			if bar != nil {
				bar.Finish()
				fmt.Fprintln(cmd.OutOrStdout())
			}
			out := cmd.OutOrStdout()
			for _, e := range res.Errors[min(1, len(res.Errors)):] {
				fmt.Fprintln(cmd.ErrOrStderr(), "error:", e)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "no errors: %d snapshots, %d deltas, %d blobs", res.Snapshots, res.Deltas, res.Blobs)
			if readData {
				fmt.Fprintf(out, ", %s read and verified", humanBytes(res.ReadBytes))
			}
			fmt.Fprintln(out)
			if len(res.Garbage) > 0 {
				fmt.Fprintf(out, "%d unreferenced objects (left by an interrupted prune; `chatsafe prune` removes them)\n", len(res.Garbage))
			}
			return nil
		},
	}
	configFlag(cmd, &config)
	cmd.Flags().BoolVar(&readData, "read-data", false, "download and verify every byte")
	rootCmd.AddCommand(cmd)
}
