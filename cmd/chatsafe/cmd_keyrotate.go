package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/rotate"
	"github.com/chatsafe/chatsafe/store"
)

// KeyRotateOptions are the flags of `chatsafe key rotate`.
type KeyRotateOptions struct {
	Config         string
	RecoveryKeyOut string
}

func newKeyRotateCommand(g *globalOptions) *cobra.Command {
	var opts KeyRotateOptions
	cmd := &cobra.Command{
		Use:   "rotate [--config FILE] [--recovery-key-out FILE]",
		Short: "Replace the backup key: re-seal every backup under a new key (after a recovery key leaked)",
		Long: `rotate makes a new random backup key, re-seals every live backup under it, switches
the repository to it and deletes the objects sealed under the old key. The old
recovery key then opens nothing on the remote; the new one is printed once (and
written to --recovery-key-out, which must not exist yet). The recovery-key.txt
that "chatsafe daemon" wrote beside the config takes the new key in place of
the old one; holding anything else, it is left as it is, with a warning.

Stop the daemon first: rotate refuses while it holds the state directory. Other
devices that joined must join again with the new recovery key. An interrupted
rotation (power cut, kill) is finished by running rotate again. A key kept by a
vault is moved there too: the vault then keeps the new key behind the same
password (read from key.password_file), and the old key no longer owns it.
What rotation cannot undo: whoever had the old key and copied the old objects
keeps what they copied (see docs/key-rotation.md).

Its stages (re-sealing, deleting the old deltas) are shown on stderr: a bar
each on a terminal, a line each otherwise; stdout has the result alone.`,
		Example: `  chatsafe service stop
  chatsafe key rotate --recovery-key-out /media/usb/chatsafe-new-recovery-key.txt
  chatsafe service start`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runKeyRotate(cmd.Context(), opts, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	configFlag(cmd, &opts.Config)
	cmd.Flags().StringVar(&opts.RecoveryKeyOut, "recovery-key-out", "", "also write the new recovery key to this file (never overwritten)")
	return cmd
}

func runKeyRotate(ctx context.Context, opts KeyRotateOptions, g *globalOptions, stdout, stderr io.Writer) error {
	cfg, err := g.loadConfig(opts.Config)
	if err != nil {
		return err
	}
	if opts.RecoveryKeyOut != "" {
		if _, err := os.Lstat(opts.RecoveryKeyOut); err == nil && !journaledKeyIn(cfg.StateDir, opts.RecoveryKeyOut) {
			return usageErr(fmt.Errorf("%s already exists: rotate never overwrites a recovery key file; choose another --recovery-key-out", opts.RecoveryKeyOut))
		}
	}
	progress := newStageProgress("key rotate", stderr)
	log := cliLogger(stderr)
	res, err := rotate.Run(ctx, cfg, log, g.retry(log), progress.report)
	progress.finish()
	if err != nil {
		return err
	}
	if opts.RecoveryKeyOut != "" {
		if err := writeNewSecretFile(opts.RecoveryKeyOut, []byte(res.NewKey.RecoveryKey()+"\n")); err != nil && !sameRecoveryKeyFile(opts.RecoveryKeyOut, res.NewKey) {
			return fmt.Errorf("the key was rotated, but writing %s failed: %w; `chatsafe key show` prints the new recovery key", opts.RecoveryKeyOut, err)
		}
	}
	daemonFile, err := replaceDaemonKeyFile(ctx, cfg, res.NewKey, g.retry(log))
	if err != nil {
		return err
	}
	printRotated(stdout, res, opts.RecoveryKeyOut, daemonFile)
	if daemonFile.warning != "" {
		fmt.Fprintf(stderr, "warning: %s\n", daemonFile.warning)
	}
	return rotate.Done(cfg)
}

func printRotated(w io.Writer, res *rotate.Result, keyFile string, daemonFile daemonKeyFile) {
	if res.Resumed {
		fmt.Fprintln(w, "finished the interrupted key rotation")
	}
	fmt.Fprintf(w, "the backup key was rotated: every backup is re-sealed under the new key and %d old objects were deleted\n", res.Deleted)
	fmt.Fprintf(w, "\nNEW RECOVERY KEY (the old one no longer opens anything; keep this one off this device):\n\n  %s\n\n", res.NewKey.RecoveryKey())
	if keyFile != "" {
		fmt.Fprintf(w, "also written to %s\n", keyFile)
	}
	if daemonFile.replaced {
		fmt.Fprintf(w, "%s, which held the old recovery key, now holds the new one\n", daemonFile.path)
	}
	if res.Vault {
		fmt.Fprintln(w, "the vault now keeps the new key behind the same password")
	}
	fmt.Fprintln(w, "devices that joined this repository must join again with the new recovery key (chatsafe init --join)")
}

// journaledKeyIn reports whether path holds the new key of an interrupted
// rotation (written by the run that was interrupted before it finished).
func journaledKeyIn(stateDir, path string) bool {
	j, err := store.LoadRotateJournal(stateDir)
	if err != nil || j == nil {
		return false
	}
	k, err := j.Key()
	return err == nil && sameRecoveryKeyFile(path, k)
}
