package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/instance"
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
the writer again, on purpose: it reads the remote's head and says which sequence
its next backup commits. Stop the other device's backups too (there: chatsafe
service stop): one device writes at a time, and whichever commits first after
the takeover writes on while the other stops with "taken over". Stop this
device's daemon first (it holds the state directory; exit code 11 while it
runs), then start it again afterwards.

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
	if errors.Is(err, store.ErrLocked) {
		// store's advice ends "stop it first": this says how, and what then.
		in := g.installation(g.configPath(opts.Config))
		return fmt.Errorf("%w: %s (or Ctrl-C the %s in its terminal), run %s again, then start it again (%s)",
			err, in.Cmd("service stop"), in.Cmd("daemon"), in.Cmd("takeover"), in.Cmd("service start"))
	}
	if err != nil {
		return err
	}
	defer inst.Close()
	// Takeover reads the remote's head afresh: the sequence stated below
	// is the remote's, not what this device saw last.
	res, err := inst.Store.Takeover(ctx, store.TakeoverOptions{DiscardOffline: opts.DiscardOffline})
	if err != nil {
		return err
	}
	if res.Dropped > 0 {
		fmt.Fprintf(stdout, "dropped %d snapshot(s) this device backed up offline and never uploaded\n", res.Dropped)
	}
	self, _ := instance.DeviceID(inst.Config.StateDir, false)
	fmt.Fprint(stdout, takeoverMessage(res.Head, self, inst.Store.Snapshots()))
	return nil
}

// takeoverMessage says what takeover did: the remote's head, the sequence
// this device's next backup commits, and that the device it took over
// from must stop, since one that goes on backing up takes the repository
// back by committing first (this device then stops with "taken over").
func takeoverMessage(head store.HeadRef, self [16]byte, snaps []store.Snapshot) string {
	next := head.Seq + 1
	if head.Seq == 0 {
		return fmt.Sprintf("this device writes the repository; the remote holds no commit yet, so its next backup commits sequence %d\n", next)
	}
	if head.Device == self || head.Device == ([16]byte{}) {
		return fmt.Sprintf("this device writes the repository again; the remote's head is its own sequence %d, so its next backup commits sequence %d\n"+
			"stop any other device still backing up here (there: `chatsafe service stop`): one that commits before this device does takes the repository back\n", head.Seq, next)
	}
	host := ""
	for _, s := range snaps { // the hostname is in the snapshots that device wrote
		if s.Device == head.Device {
			host = s.Hostname
		}
	}
	other := deviceLabel(host, hex.EncodeToString(head.Device[:]))
	return fmt.Sprintf("this device writes the repository again; the remote's head is sequence %d, by %s, so this device's next backup commits sequence %d\n"+
		"stop the backups on %s now (there: `chatsafe service stop`): if it commits before this device does, it takes the repository back and this device stops with \"taken over\" again\n",
		head.Seq, other, next, other)
}
