package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/internal/cmdline"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// runJoin sets this device up to continue the repository on cfg's remotes
// (init --join): the key from the flags is checked against the repository
// before anything is written.
func runJoin(ctx context.Context, cfg *configs.Config, cfgPath string, keys keySourceFlags, g *globalOptions, stdout, stderr io.Writer) error {
	p := prompt{g.stdin, stderr}
	log := cliLogger(stderr)
	rems, err := instance.OpenRemotes(ctx, cfg, g.retry(log))
	if err != nil {
		return err
	}
	defer instance.CloseRemotes(rems)
	key, err := keys.key(ctx, p, rems)
	if err != nil {
		return err
	}
	return joinWithKey(ctx, cfg, cfgPath, key, rems, 0, g, stdout, stderr)
}

// joinWithKey joins with key; at is the sequence of the snapshot the
// chats were restored from (0: the head, as init --join finds them).
func joinWithKey(ctx context.Context, cfg *configs.Config, cfgPath string, key crypt.Key, rems []remotes.Remote, at uint64, g *globalOptions, stdout, stderr io.Writer) error {
	head, err := instance.Join(ctx, cfg, cfgPath, key, rems, instance.JoinOptions{Log: cliLogger(stderr), At: at})
	switch {
	case errors.Is(err, store.ErrNoRepository):
		return fmt.Errorf("%w; --join continues an existing repository: check the remote name, or run init without --join to make a new one", err)
	case errors.Is(err, instance.ErrOtherKey):
		return usageErr(err)
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "this device now continues the repository at %s (newest sequence %d).\n  config:  %s\n  source:  %s\n  state:   %s\n",
		remotes.Redact(cfg.Remotes[0].URL), head.Seq, cfgPath, cfg.Source, cfg.StateDir)
	if at != 0 && at < head.Seq {
		fmt.Fprintf(stdout, "  note: the chats restored here are sequence %d's, and the repository is at %d: what the newer snapshots hold may be missing here (the first backup names them)\n", at, head.Seq)
	}
	g.printNext(stdout, cfgPath)
	fmt.Fprintln(stdout, "Stop the backups on the old device: from now on this device writes the repository.")
	return nil
}

// JoinFlags are restore's --join and what it needs beyond the restore.
type JoinFlags struct {
	Join     bool
	Source   string
	StateDir string
}

func (j *JoinFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&j.Join, "join", false, "then continue the backups of this repository on this device (as init --join)")
	cmd.Flags().StringVar(&j.Source, "source", "", "with --join: the directory to back up (default --to)")
	cmd.Flags().StringVar(&j.StateDir, "state-dir", "", "with --join: "+stateDirUsage)
}

// prepareRestoreJoin checks restore --join's flags before anything is
// restored and returns the config path to write; look no longer names it.
func prepareRestoreJoin(opts *RestoreOptions, g *globalOptions) (string, error) {
	if opts.Look.Remote == "" {
		return "", usageErr(errors.New("restore --join sets up a new device: name the repository with --remote (and --config for the config to write)"))
	}
	cfgPath := g.configPath(opts.Look.Config)
	if _, err := os.Stat(cfgPath); err == nil {
		return "", usageErr(fmt.Errorf("%s already exists: this device is set up already (if its backup key is lost or corrupt, %s puts it back; pass --config for the config to write)", cfgPath, cmdline.Installation{Config: cfgPath}.Cmd("key import")))
	}
	opts.Look.Config = ""
	return cfgPath, nil
}

// joinAfterRestore sets the device up to continue after a restore --join,
// with the key the restore used; at is the restored snapshot's sequence.
func joinAfterRestore(ctx context.Context, opts RestoreOptions, cfgPath string, g *globalOptions, key crypt.Key, at uint64, stdout, stderr io.Writer) error {
	src := opts.Join.Source
	if src == "" {
		src = opts.To
	}
	io := InitOptions{Source: src, Remotes: []string{opts.Look.Remote}, Config: cfgPath, StateDir: opts.Join.StateDir, RcloneConfig: opts.Look.RcloneConfig, Vault: opts.Look.Keys.vault}
	cfg, cfgPath, err := initConfig(io, g)
	if err != nil {
		return err
	}
	rems, err := instance.OpenRemotes(ctx, cfg, g.retry(cliLogger(stderr)))
	if err != nil {
		return err
	}
	defer instance.CloseRemotes(rems)
	fmt.Fprintln(stdout)
	return joinWithKey(ctx, cfg, cfgPath, key, rems, at, g, stdout, stderr)
}
