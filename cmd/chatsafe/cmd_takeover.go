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
	// DiscardOffline drops the snapshots this device backed up offline
	// that the repository's history left behind (never uploaded).
	DiscardOffline bool
}

func newTakeoverCommand(g *globalOptions) *cobra.Command {
	var opts TakeoverOptions
	cmd := &cobra.Command{
		Use:   "takeover [--discard-offline] [--config FILE]",
		Short: "Make this device the one that writes the repository again",
		Long: `A repository has one writer at a time. When another device commits a delta
after this one's last, this device stops backing up ("taken over", exit code 7,
status taken_over) and stays stopped across restarts. takeover makes this device
the writer again, on purpose: its next backup commits on the current head, and
the other device is the one that stops. Stop this device's daemon first (it holds
the state directory), then start it again afterwards.

Snapshots this device backed up while its remote was out of reach, and never
uploaded, are merged by "chatsafe fork resolve" when both histories load as a
fork. When the other device's prune removed what they continue, they cannot be
merged: takeover then refuses (exit code 7), saying how many it would drop, until you pass
--discard-offline (the next backup takes the chats as they are now).`,
		Example: `  chatsafe takeover`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTakeover(cmd.Context(), opts, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	configFlag(cmd, &opts.Config)
	cmd.Flags().BoolVar(&opts.DiscardOffline, "discard-offline", false, "drop the snapshots backed up offline that the repository's history left behind (never uploaded)")
	return cmd
}

func runTakeover(ctx context.Context, opts TakeoverOptions, g *globalOptions, stdout, stderr io.Writer) error {
	inst, err := g.openInstance(ctx, opts.Config, false, stderr)
	if err != nil {
		return err
	}
	defer inst.Close()
	res, err := inst.Store.Takeover(ctx, store.TakeoverOptions{DiscardOffline: opts.DiscardOffline})
	if err != nil {
		return err
	}
	if res.Dropped > 0 {
		fmt.Fprintf(stdout, "dropped %d snapshot(s) this device backed up offline and never uploaded\n", res.Dropped)
	}
	fmt.Fprintf(stdout, "this device writes the repository again; its next backup commits on sequence %d (a device still backing up here stops with \"taken over\")\n", res.Head.Seq)
	return nil
}
