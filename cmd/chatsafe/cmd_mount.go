package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/mount"
)

// MountOptions are the flags of `chatsafe mount`.
type MountOptions struct {
	Repo repoFlags
}

func newMountCommand(g *globalOptions) *cobra.Command {
	var opts MountOptions
	cmd := &cobra.Command{
		Use:   "mount [--config FILE | --remote REMOTE] MOUNTPOINT",
		Short: "Browse every snapshot as a read-only file system (FUSE)",
		Long: `mount serves the repository's snapshots read-only at MOUNTPOINT, an empty
directory: snapshots/<time>/... holds each snapshot (named by its UTC time;
snapshots/<id prefix> works too) and latest links to the newest. Directories
are read when first opened, and a read fetches only the chunks it covers.
A SQLite database there opens with sqlite3 as it is: its header reads as
rollback mode, not WAL (dump and restore give the exact bytes).
It runs until interrupted (Ctrl-C, SIGTERM), then unmounts. It needs FUSE
(Linux: apt-get install fuse3; macOS: macFUSE).`,
		Example: `  chatsafe mount ~/chatsafe-snapshots
  chatsafe mount --remote gdrive:chatsafe --recovery-key-file key.txt /mnt/chats`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMount(cmd.Context(), opts, args[0], g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	opts.Repo.register(cmd, false)
	return cmd
}

func runMount(ctx context.Context, opts MountOptions, dir string, g *globalOptions, stdout, stderr io.Writer) error {
	// Refuse a bad mount point before asking for a key or touching the network.
	if err := mount.CheckMountpoint(dir); err != nil {
		return usageErr(err)
	}
	r, closeAll, err := opts.Repo.open(ctx, g, stderr)
	if err != nil {
		return err
	}
	defer closeAll()
	if de := r.Damage(); de != nil {
		// A mount runs until stopped: the warning comes first, not as
		// an exit code.
		fmt.Fprintln(stderr, "WARNING:", damageText(de, opts.Repo.Look.Remote))
	}
	ready := func() {
		fmt.Fprintf(stdout, "mounted %d snapshots read-only at %s; press Ctrl-C to unmount\n", len(r.Snapshots()), dir)
	}
	if err := mount.Run(ctx, r, dir, mount.Options{Ready: ready}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "unmounted %s\n", dir)
	return nil
}
