package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/store"
)

// TakeoverOptions are the flags of `chatsafe takeover`.
type TakeoverOptions struct {
	Config string
}

func newTakeoverCommand(g *globalOptions) *cobra.Command {
	var opts TakeoverOptions
	cmd := &cobra.Command{
		Use:   "takeover [--config FILE]",
		Short: "Make this device the one that writes the repository again",
		Long: `A repository has one writer at a time. When another device commits a delta
after this one's last, this device stops backing up ("taken over", exit code 7,
status taken_over) and stays stopped across restarts. takeover makes this device
the writer again, on purpose: its next backup commits on the current head, and
the other device is the one that stops. Stop this device's daemon first (it holds
the state directory), then start it again afterwards.`,
		Example: `  chatsafe takeover`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTakeover(cmd.Context(), opts, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	configFlag(cmd, &opts.Config)
	return cmd
}

func runTakeover(ctx context.Context, opts TakeoverOptions, g *globalOptions, stdout, stderr io.Writer) error {
	inst, err := g.openInstance(ctx, opts.Config, false, stderr)
	if err != nil {
		return err
	}
	defer inst.Close()
	head, err := inst.Store.Takeover(ctx, store.TakeoverOptions{})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "this device writes the repository again; its next backup commits on sequence %d (a device still backing up here stops with \"taken over\")\n", head.Seq)
	return nil
}
