// Package instance opens one chatsafe installation from its config: the
// backup key (local key cache, or the vault on a new device), the remotes
// and the repository. The CLI commands and the daemon share it, so they
// agree on where everything lives.
package instance

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/faults"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// Key sources, as reported in status.
const (
	KeyFromCache       = "cache"
	KeyFromVault       = "vault"
	KeyFromRecoveryKey = "recovery-key"
)

// ErrNoKey means the local key cache has no backup key and nothing else
// could provide one.
var ErrNoKey = errors.New("no backup key on this device")

// KeyCachePath is where the backup key is cached in a state directory.
func KeyCachePath(stateDir string) string { return filepath.Join(stateDir, "key") }

// Instance is an opened installation.
type Instance struct {
	Config    *configs.Config
	Key       crypt.Key
	KeySource string
	Remotes   []remotes.Remote // in config order; the first is read from
	Store     *store.Store
	Log       *zap.Logger
}

// Options tune Open.
type Options struct {
	// ReadOnly opens the repository without the state lock (snapshots,
	// check and restore beside a running daemon).
	ReadOnly bool
	// FetchKey, when the key cache is empty, may get the key elsewhere
	// (the vault); it returns the key and its source. nil: ErrNoKey.
	FetchKey func(ctx context.Context, cfg *configs.Config) (crypt.Key, string, error)
	Log      *zap.Logger
}

// LoadKey returns the backup key from the local key cache, or from
// opts.FetchKey (caching what it returns).
func LoadKey(ctx context.Context, cfg *configs.Config, opts Options) (crypt.Key, string, error) {
	path := KeyCachePath(cfg.StateDir)
	k, err := crypt.ReadKeyCache(path)
	if err == nil {
		return k, KeyFromCache, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return k, "", fmt.Errorf("reading the backup key: %w", err)
	}
	if opts.FetchKey == nil {
		return k, "", fmt.Errorf("%w: %s does not exist (run `chatsafe init`, or `chatsafe restore` with your recovery key on a new device)", ErrNoKey, path)
	}
	k, src, err := opts.FetchKey(ctx, cfg)
	if err != nil {
		return k, "", err
	}
	if err := crypt.WriteKeyCache(path, k); err != nil {
		return k, "", fmt.Errorf("caching the backup key: %w", err)
	}
	return k, src, nil
}

// OpenRemotes opens every remote of the config, each wrapped with retries.
func OpenRemotes(ctx context.Context, cfg *configs.Config, log *zap.Logger) ([]remotes.Remote, error) {
	if len(cfg.Remotes) == 0 {
		return nil, fmt.Errorf("%w: %s names no remotes", configs.ErrConfig, cfg.Path)
	}
	var out []remotes.Remote
	for _, rc := range cfg.Remotes {
		r, err := remotes.Open(ctx, rc.URL, remotes.Options{RcloneConfig: cfg.RcloneConfig, BwLimit: rc.BwLimit, Name: rc.Name})
		if err != nil {
			CloseRemotes(out)
			return nil, fmt.Errorf("opening remote %q: %w", rc.Name, err)
		}
		out = append(out, remotes.WithRetry(r, remotes.RetryOptions{Log: log}))
	}
	return out, nil
}

// CloseRemotes closes every remote.
func CloseRemotes(rs []remotes.Remote) {
	for _, r := range rs {
		r.Close()
	}
}

// Open loads the key, opens the remotes and the repository.
func Open(ctx context.Context, cfg *configs.Config, opts Options) (*Instance, error) {
	log := opts.Log
	if log == nil {
		log = zap.NewNop()
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the state directory: %w", err)
	}
	key, src, err := LoadKey(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	rems, err := OpenRemotes(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	r, err := store.Open(ctx, rems[0], key, store.Options{StateDir: cfg.StateDir, ReadOnly: opts.ReadOnly, Log: log})
	if err != nil {
		CloseRemotes(rems)
		return nil, err
	}
	return &Instance{Config: cfg, Key: key, KeySource: src, Remotes: rems, Store: r, Log: log}, nil
}

// Close closes the repository and the remotes.
func (i *Instance) Close() error {
	i.Store.Close()
	CloseRemotes(i.Remotes)
	return nil
}

// Flush uploads every pending delta to every remote, in order; a delta
// leaves the spool once all remotes have it. It returns how many deltas
// were uploaded everywhere and the first error.
func (i *Instance) Flush(ctx context.Context) (int, error) {
	n := 0
	for _, p := range i.Store.Pending() {
		for _, r := range i.Remotes {
			if err := i.Store.Upload(ctx, r, p); err != nil {
				return n, err
			}
			if err := faults.Point("upload:put"); err != nil {
				return n, err
			}
		}
		if err := i.Store.Uploaded(p); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Create sets up a new installation: a new repository on every remote of
// cfg under key, the key cache and the config file at cfgPath.
func Create(ctx context.Context, cfg *configs.Config, cfgPath string, key crypt.Key, log *zap.Logger) error {
	if log == nil {
		log = zap.NewNop()
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("creating the state directory: %w", err)
	}
	if _, err := crypt.ReadKeyCache(KeyCachePath(cfg.StateDir)); err == nil {
		return fmt.Errorf("%s already holds a backup key: this state directory belongs to another installation (choose another state_dir, or remove it if you mean to start over)", cfg.StateDir)
	}
	rems, err := OpenRemotes(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer CloseRemotes(rems)
	r, err := store.Init(ctx, rems[0], key, store.Options{StateDir: cfg.StateDir, Log: log})
	if err != nil {
		return err
	}
	r.Close()
	// Further remotes receive the same config object (and every delta)
	// so a restore can read from any of them.
	for _, other := range rems[1:] {
		if err := store.CopyConfig(ctx, rems[0], other); err != nil {
			return err
		}
	}
	if err := crypt.WriteKeyCache(KeyCachePath(cfg.StateDir), key); err != nil {
		return fmt.Errorf("caching the backup key: %w", err)
	}
	if cfgPath != "" {
		if err := cfg.Write(cfgPath); err != nil {
			return fmt.Errorf("writing the config: %w", err)
		}
	}
	return nil
}

// RetentionPolicy is the config's retention section as the repository's
// policy (restic's meanings).
func RetentionPolicy(c *configs.Config) store.Policy {
	r := c.Retention
	return store.Policy{KeepLast: r.KeepLast, KeepHourly: r.KeepHourly, KeepDaily: r.KeepDaily, KeepWeekly: r.KeepWeekly, KeepMonthly: r.KeepMonthly}
}
