package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/internal/cmdline"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// keySourceFlags are the ways to give the backup key on a device that has
// no key cache: the recovery key (a file or a prompt), or the vault.
type keySourceFlags struct {
	recoveryKeyFile string
	vault           vaultFlags
}

func (k *keySourceFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&k.recoveryKeyFile, "recovery-key-file", "", "file holding the 64-digit recovery key")
	k.vault.register(cmd)
}

func (k *keySourceFlags) given() bool { return k.recoveryKeyFile != "" || k.vault.given() }

// key reads the recovery key, or recovers the key from the vault with the
// vault handle kept on rems.
func (k *keySourceFlags) key(ctx context.Context, p prompt, rems []remotes.Remote) (crypt.Key, error) {
	if k.vault.given() {
		if k.recoveryKeyFile != "" {
			return crypt.Key{}, usageErr(errors.New("give either --recovery-key-file or the vault flags, not both"))
		}
		return k.vault.recover(ctx, p, rems)
	}
	return readRecoveryKey(ctx, k.recoveryKeyFile, p, typedKeyCheck(ctx, rems))
}

// lookFlags name a repository to look at (snapshots, check, restore):
// this installation's config, or --remote and key flags and nothing else,
// like restic's -r.
type lookFlags struct {
	Config, Remote, RcloneConfig string
	Keys                         keySourceFlags
}

func (l *lookFlags) register(cmd *cobra.Command) {
	configFlag(cmd, &l.Config)
	cmd.Flags().StringVar(&l.Remote, "remote", "", "read this remote, without a config (a new device; give the key with --recovery-key-file or the vault flags)")
	cmd.Flags().StringVar(&l.RcloneConfig, "rclone-config", "", "rclone.conf defining named remotes (with --remote)")
	l.Keys.register(cmd)
}

// looked is a repository opened for reading; cfg is the installation's
// config, or one made from the flags when there is none.
type looked struct {
	store *store.Store
	cfg   *configs.Config
	key   crypt.Key
	// remotes are cfg.Remotes opened, in config order: store reads the
	// first. One other than the first that did not open is nil, and
	// openErrs (in config order) says why: only check reads those.
	remotes  []remotes.Remote
	openErrs []error
	closeAll func()
	// in is the installation of cfg, for the commands messages name (no
	// --config with --remote: there is no installation).
	in cmdline.Installation
}

// openLook opens the repository the flags name, read-only. With --remote
// the key comes from the flags; with a config, from the flags or the
// installation (its key cache, or its vault). A vault, when one is known,
// is asked for the newest head it recorded: a remote serving an older one
// is refused even on a device that knows nothing locally.
func (g *globalOptions) openLook(ctx context.Context, l lookFlags, p prompt) (*looked, error) {
	log := cliLogger(p.stderr)
	if l.Config != "" && l.Remote != "" {
		return nil, usageErr(errors.New("give either --config or --remote, not both"))
	}
	if l.Remote == "" && !l.Keys.given() {
		cfg, err := g.loadConfig(l.Config)
		if err != nil {
			return nil, err
		}
		inst, err := instance.Open(ctx, cfg, instance.Options{ReadOnly: true, KeepBroken: true, FetchKey: instance.FetchKeyFromVault, Log: log, Retry: g.retry(log)})
		if err != nil {
			return nil, err
		}
		rems, errs := instance.TargetRemotes(inst.Store.Targets())
		return &looked{store: inst.Store, cfg: cfg, key: inst.Key, remotes: rems, openErrs: errs, closeAll: func() { inst.Close() }, in: g.installation(cfg.Path)}, nil
	}
	cfg := configs.Default()
	cfg.StateDir = ""
	if l.Remote != "" {
		cfg.Remotes = []configs.Remote{{Name: remoteName(l.Remote, 0), URL: l.Remote}}
		cfg.RcloneConfig = l.RcloneConfig
	} else {
		c, err := g.loadConfig(l.Config)
		if err != nil {
			return nil, err
		}
		cfg = c
	}
	if l.Keys.vault.given() {
		cfg.Key.Vault = l.Keys.vault.config()
	}
	lk, err := openWithKeyFlags(ctx, cfg, l.Keys, p, g.retry(log))
	if lk != nil {
		lk.in = g.installation(cfg.Path)
	}
	return lk, err
}

// openWithKeyFlags opens cfg's repository read-only with the key from
// keys; retry.Log hears the retries and the opening.
func openWithKeyFlags(ctx context.Context, cfg *configs.Config, keys keySourceFlags, p prompt, retry remotes.RetryOptions) (*looked, error) {
	log := retry.Log
	byConfig, errs, err := instance.OpenRemotesKeepBroken(ctx, cfg, retry)
	if err != nil {
		return nil, err
	}
	var rems []remotes.Remote // those that opened
	for _, r := range byConfig {
		if r != nil {
			rems = append(rems, r)
		}
	}
	key, err := keys.key(ctx, p, rems)
	if err != nil {
		instance.CloseRemotes(rems)
		return nil, err
	}
	r, err := store.Open(ctx, rems[0], key, store.Options{StateDir: cfg.StateDir, ReadOnly: true, Log: log, Partial: true, ConfigFlag: cmdline.For(cfg.Path).Flag()})
	if err != nil {
		instance.CloseRemotes(rems)
		return nil, err
	}
	lk := &looked{store: r, cfg: cfg, key: key, remotes: byConfig, openErrs: errs, closeAll: func() { r.Close(); instance.CloseRemotes(rems) }}
	if cfg.Key.Vault.Enabled() {
		if err := checkAgainstVault(ctx, cfg, key, rems, r, log); err != nil {
			lk.closeAll()
			return nil, err
		}
	}
	return lk, nil
}

// checkAgainstVault compares the remote's head with the vault's record. A
// vault that cannot be asked is a warning, not a failure: looking must
// work when the vault is down.
func checkAgainstVault(ctx context.Context, cfg *configs.Config, key crypt.Key, rems []remotes.Remote, r *store.Store, log *zap.Logger) error {
	g, err := instance.NewVaultGuard(ctx, cfg, key, rems)
	if err != nil {
		return err
	}
	defer g.Close()
	err = instance.CheckHead(ctx, g, r.HeadRef())
	if err != nil && !errors.Is(err, store.ErrRollback) {
		log.Warn("could not compare the remote's head with the vault's record", zap.Error(err))
		return nil
	}
	if err != nil {
		// Read as a partial history (exit 9), never committed on.
		r.NoteRollback(err)
	}
	return nil
}
