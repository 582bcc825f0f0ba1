package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/browse"
	"github.com/chatsafe/chatsafe/store"
)

// repoFlags are how the browsing commands (ls, find, dump, diff, mount)
// reach a repository: --config (or the default config), or --remote with
// the key flags on a device without a config, exactly as restore does;
// and --time to pick a snapshot by time.
type repoFlags struct {
	Look lookFlags
	Time string
}

func (f *repoFlags) register(cmd *cobra.Command, withTime bool) {
	f.Look.register(cmd)
	if withTime {
		cmd.Flags().StringVar(&f.Time, "time", "", `the newest snapshot at or before TIME (RFC 3339 or local "2006-01-02 15:04")`)
	}
}

// open opens the repository read-only; closeAll releases it.
func (f *repoFlags) open(ctx context.Context, g *globalOptions, stderr io.Writer) (*store.Store, func(), error) {
	lk, err := g.openLook(ctx, f.Look, prompt{g.stdin, stderr})
	if err != nil {
		return nil, nil, err
	}
	return lk.store, lk.closeAll, nil
}

// at parses --time ("" is the zero time).
func (f *repoFlags) at() (time.Time, error) {
	if f.Time == "" {
		return time.Time{}, nil
	}
	t, err := browse.ParseTime(f.Time)
	if err != nil {
		return time.Time{}, usageErr(err)
	}
	return t, nil
}

// selectSnapshot picks the snapshot spec names (an id prefix or
// "latest"), or with --time the newest at or before it.
func (f *repoFlags) selectSnapshot(r browse.Reader, spec string) (store.Snapshot, error) {
	at, err := f.at()
	if err != nil {
		return store.Snapshot{}, err
	}
	return browse.Select(r, spec, at)
}

func snapshotTime(s store.Snapshot) string { return s.Time.Local().Format("2006-01-02 15:04:05") }

// hintPathForSnapshot adds to a lone argument's "no snapshot" error that
// it names a path of the newest snapshot, when it does.
func hintPathForSnapshot(ctx context.Context, r browse.Reader, err error, args []string) error {
	if len(args) != 1 || !errors.Is(err, store.ErrSnapshotNotFound) {
		return err
	}
	latest, lerr := browse.Select(r, "latest", time.Time{})
	if lerr != nil {
		return err
	}
	if _, lerr := browse.Lookup(ctx, r, latest, browse.Clean(args[0])); lerr != nil {
		return err
	}
	return fmt.Errorf("%w; %q is a path in the newest snapshot: name a snapshot before it (`latest %s`)", err, args[0], args[0])
}

// located is a path in a snapshot, with the repository opened to read it.
type located struct {
	store    *store.Store
	snap     store.Snapshot
	path     string
	node     store.Node
	closeAll func()
}

// locate takes [SNAPSHOT] [PATH] (or --time and PATH) from args, opens
// the repository, picks the snapshot and looks the path up in it.
func (f *repoFlags) locate(ctx context.Context, g *globalOptions, stderr io.Writer, args []string) (*located, error) {
	spec, p, err := snapshotAndPath(f, args)
	if err != nil {
		return nil, err
	}
	if _, err := f.at(); err != nil {
		return nil, err
	}
	r, closeAll, err := f.open(ctx, g, stderr)
	if err != nil {
		return nil, err
	}
	snap, err := f.selectSnapshot(r, spec)
	if err != nil {
		err = hintPathForSnapshot(ctx, r, err, args)
		closeAll()
		return nil, err
	}
	p = browse.Clean(p)
	n, err := browse.Lookup(ctx, r, snap, p)
	if err != nil {
		closeAll()
		return nil, err
	}
	return &located{store: r, snap: snap, path: p, node: n, closeAll: closeAll}, nil
}
