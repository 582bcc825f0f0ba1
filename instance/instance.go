// Package instance opens one chatsafe installation from its config: the
// backup key (local key cache, or the vault on a new device), the remotes
// (each wrapped with retries) and the store, whose sync targets are every
// configured remote. It is the only way the CLI commands and the daemon
// open an installation (Open) or make one (Create), so they agree on where
// everything lives.
package instance

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/cmdline"
	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
	"github.com/chatsafe/chatsafe/vault"
)

// Key sources, as reported in status and the daemon's start-up log.
const (
	KeyFromCache       = "cache"   // the key cache file in the state directory
	KeyFromKeyring     = "keyring" // the OS keyring (key_store auto or keyring)
	KeyFromVault       = "vault"
	KeyFromRecoveryKey = "recovery-key"
)

// ErrNoKey means the local key cache has no backup key and nothing else
// could provide one.
var ErrNoKey = errors.New("no backup key on this device")

// KeyCachePath is where the backup key is cached in a state directory
// (the file, or the name of its OS keyring entry).
func KeyCachePath(stateDir string) string { return filepath.Join(stateDir, "key") }

// KeyCache is the config's local copy of the backup key (key_store).
func KeyCache(cfg *configs.Config) crypt.KeyCache {
	return crypt.KeyCache{Store: crypt.KeyStore(cfg.KeyStore), Path: KeyCachePath(cfg.StateDir)}
}

// Instance is an opened installation.
type Instance struct {
	Config    *configs.Config
	Key       crypt.Key
	KeySource string
	// Remotes are the remotes that opened, in config order; the first is
	// the one the store reads from. With Options.KeepBroken, one that
	// failed to open is missing here and is a broken target of the store.
	Remotes []remotes.Remote
	Store   *store.Store
	// Guard is the vault as commit point, when the config names a vault.
	Guard *VaultGuard
	Log   *zap.Logger
}

// Options tune Open.
type Options struct {
	// ReadOnly opens the repository without the state lock (snapshots,
	// check and restore beside a running daemon).
	ReadOnly bool
	// FetchKey, when the key cache is empty, may get the key elsewhere
	// (the vault), opening remotes with retry; it returns the key and its
	// source. nil: ErrNoKey.
	FetchKey func(ctx context.Context, cfg *configs.Config, retry remotes.RetryOptions) (crypt.Key, string, error)
	// Retry tunes the retries around each remote (its Log is Log); zero
	// values take the remotes package's defaults, and a zero Budget the
	// config's retry_for (see OpenRemote).
	Retry remotes.RetryOptions
	// KeepBroken keeps going when a remote other than the first fails to
	// open: it becomes a broken sync target (reported, holding nothing, so
	// nothing leaves the spool) instead of failing Open. The daemon sets
	// it; the first remote, which the store reads from, must always open.
	KeepBroken bool
	Log        *zap.Logger
	// Progress hears the store's long work (store.Options.Progress).
	Progress store.ProgressFunc
	// StateLock is the state directory's lock when the caller holds it
	// (the daemon, from its start: store.Options.StateLock).
	StateLock *store.StateLock
	// OneBulkEncoder: store.Options.OneBulkEncoder (the daemon).
	OneBulkEncoder bool
	// FromState: when the first remote is out of reach (Unreachable) and
	// no vault is configured, open the repository from the state an
	// earlier open left (store.OpenFromState), so backups commit into the
	// spool; the first sync checks them against the remote before any
	// upload. A state that cannot stand in gives the remote's error.
	FromState bool
}

// LoadKey returns the backup key from the local key cache, or from
// opts.FetchKey (caching what it returns).
func LoadKey(ctx context.Context, cfg *configs.Config, opts Options) (crypt.Key, string, error) {
	path := KeyCachePath(cfg.StateDir)
	kc := KeyCache(cfg)
	k, where, err := kc.Read()
	if err == nil {
		if where == crypt.InKeyring {
			return k, KeyFromKeyring, nil
		}
		return k, KeyFromCache, nil
	}
	if errors.Is(err, crypt.ErrKeyCacheCorrupt) {
		return k, "", fmt.Errorf("reading the backup key: %w: put the key back with %s (your recovery key or vault password)", err, cmdline.For(cfg.Path).Cmd("key import"))
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return k, "", fmt.Errorf("reading the backup key: %w", err)
	}
	if opts.FetchKey == nil {
		return k, "", fmt.Errorf("%w: %s does not exist: put the key back with %s (your recovery key or vault password)", ErrNoKey, path, cmdline.For(cfg.Path).Cmd("key import"))
	}
	k, src, err := opts.FetchKey(ctx, cfg, opts.retry())
	if err != nil {
		return k, "", err
	}
	if _, err := kc.Write(k); err != nil {
		return k, "", fmt.Errorf("caching the backup key: %w", err)
	}
	return k, src, nil
}

// OpenRemotes opens every remote of the config, each wrapped with retries
// as retry says (see OpenRemote).
func OpenRemotes(ctx context.Context, cfg *configs.Config, retry remotes.RetryOptions) ([]remotes.Remote, error) {
	rems, _, err := openTargets(ctx, cfg, Options{Retry: retry, Log: retry.Log})
	return rems, err
}

// OpenRemotesKeepBroken is OpenRemotes for a reader of every remote
// (check): rems and errs are in config order, and a remote other than the
// first that fails to open is nil in rems, with its error in errs.
func OpenRemotesKeepBroken(ctx context.Context, cfg *configs.Config, retry remotes.RetryOptions) (rems []remotes.Remote, errs []error, err error) {
	_, targets, err := openTargets(ctx, cfg, Options{ReadOnly: true, KeepBroken: true, Retry: retry, Log: retry.Log})
	if err != nil {
		return nil, nil, err
	}
	rems, errs = TargetRemotes(targets)
	return rems, errs, nil
}

// TargetRemotes are the remotes of targets, nil for a broken one, and why
// each broken one did not open.
func TargetRemotes(targets []*store.Target) ([]remotes.Remote, []error) {
	rems, errs := make([]remotes.Remote, len(targets)), make([]error, len(targets))
	for i, t := range targets {
		rems[i], errs[i] = t.Remote, t.OpenErr
	}
	return rems, errs
}

// OpenRemote opens one configured remote wrapped with retries (the daemon
// opens a remote added by a reload this way). Every remote is opened
// here, so this is where a run's time budget meets the config's: see
// runRetry.
func OpenRemote(ctx context.Context, cfg *configs.Config, rc configs.Remote, retry remotes.RetryOptions) (remotes.Remote, error) {
	r, err := remotes.Open(ctx, rc.URL, remotes.Options{RcloneConfig: cfg.RcloneConfig, BwLimit: rc.BwLimit, Name: rc.Name, Log: retry.Log})
	if err != nil {
		return nil, err // it names the remote
	}
	return remotes.WithRetry(r, runRetry(cfg, retry)), nil
}

// runRetry is retry with the time budget of one call resolved: retry's
// own when the run sets one (--retry-for), else the config's retry_for
// (0: no time cap, the attempts alone decide). The run's budget is an
// option of the run, never written into cfg: a config written back from
// the one loaded keeps the file's retry_for.
func runRetry(cfg *configs.Config, retry remotes.RetryOptions) remotes.RetryOptions {
	if retry.Budget <= 0 {
		retry.Budget = time.Duration(cfg.RetryFor)
	}
	return retry
}

// retry is opts.Retry with opts.Log hearing the retries.
func (opts Options) retry() remotes.RetryOptions {
	r := opts.Retry
	r.Log = opts.Log
	return r
}

// openTargets opens the config's remotes as the store's sync targets;
// opts.Log (not nil) hears the retries and the remotes that fail to open.
func openTargets(ctx context.Context, cfg *configs.Config, opts Options) ([]remotes.Remote, []*store.Target, error) {
	if len(cfg.Remotes) == 0 {
		return nil, nil, fmt.Errorf("%w: %s names no remotes", configs.ErrConfig, cfg.Path)
	}
	log, retry := opts.Log, opts.retry()
	var rems []remotes.Remote
	var targets []*store.Target
	for i, rc := range cfg.Remotes {
		r, err := OpenRemote(ctx, cfg, rc, retry)
		if err != nil && (i == 0 || !opts.KeepBroken) {
			CloseRemotes(rems)
			return nil, nil, err
		}
		if err != nil {
			if !opts.ReadOnly {
				// A reader uploads nothing: it reports the remote if it
				// reads it (check).
				log.Error("opening a remote failed; it is skipped until the configuration is fixed", zap.String("remote", rc.Name), zap.Error(err))
			}
			targets = append(targets, store.BrokenTarget(rc.Name, err))
			continue
		}
		rems = append(rems, r)
		targets = append(targets, store.NewTarget(rc.Name, r))
	}
	return rems, targets, nil
}

// CloseRemotes closes every remote.
func CloseRemotes(rs []remotes.Remote) {
	for _, r := range rs {
		r.Close()
	}
}

// Open loads the key, opens the remotes and the repository.
func Open(ctx context.Context, cfg *configs.Config, opts Options) (*Instance, error) {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	log := opts.Log
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the state directory: %w", err)
	}
	key, src, err := LoadKey(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	rems, targets, err := openTargets(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	dev, err := DeviceID(cfg.StateDir, !opts.ReadOnly)
	if err != nil {
		CloseRemotes(rems)
		return nil, err
	}
	inst := &Instance{Config: cfg, Key: key, KeySource: src, Remotes: rems, Log: log}
	// Partial: a damaged newest delta never blocks the intact history.
	sopts := store.Options{StateDir: cfg.StateDir, ReadOnly: opts.ReadOnly, Log: log, DeviceID: dev, Partial: true, Progress: opts.Progress, StateLock: opts.StateLock,
		OneBulkEncoder: opts.OneBulkEncoder, ConfigFlag: cmdline.For(cfg.Path).Flag()}
	if cfg.Key.Vault.Enabled() {
		if inst.Guard, err = NewVaultGuard(ctx, cfg, key, rems); err != nil {
			CloseRemotes(rems)
			return nil, err
		}
		inst.Guard.log = log
		sopts.CommitGuard = inst.Guard
	}
	if inst.Store, err = store.Open(ctx, rems[0], key, sopts); err != nil {
		if inst.Store, err = openFromState(ctx, inst, sopts, opts, err); err != nil {
			inst.closeParts()
			return nil, err
		}
	}
	inst.Store.SetTargets(targets)
	if inst.Guard != nil {
		if err := checkVaultHead(ctx, inst.Guard, inst.Store, log); err != nil {
			inst.Close()
			return nil, err
		}
	}
	return inst, nil
}

// openFromState opens the store from the state when opts allow it and
// openErr, the normal open's failure, is the first remote being out of
// reach; else it returns openErr (also when the state cannot stand in).
func openFromState(ctx context.Context, inst *Instance, sopts store.Options, opts Options, openErr error) (*store.Store, error) {
	outOfReach := errors.Is(openErr, remotes.ErrUnreachable) || errors.Is(openErr, store.ErrRepositoryGone)
	if !opts.FromState || opts.ReadOnly || inst.Guard != nil || !outOfReach {
		return nil, openErr
	}
	st, err := store.OpenFromState(ctx, inst.Remotes[0], inst.Key, sopts)
	if err != nil {
		// No state from an earlier open is the usual case; a cached config
		// the key no longer opens or a bad cached trailer is worth a
		// warning. Either way the remote is still what is missing (the
		// caller stays offline and tries again).
		log := inst.Log.Warn
		if errors.Is(err, store.ErrNoOfflineState) {
			log = inst.Log.Info
		}
		log("the state directory cannot stand in for the first remote while it is out of reach", zap.Error(err))
		return nil, openErr
	}
	inst.Log.Warn("the first remote is out of reach: the repository is open from the state directory; backups go into the spool and are checked against the remote before they are uploaded",
		zap.String("remote", inst.Remotes[0].String()), zap.Error(openErr))
	return st, nil
}

// checkVaultHead marks a remote older than the vault's record as rolled back
// (readable with a warning, never committed on). A vault
// that cannot be asked now does not stop the open (the local rollback
// guard still holds, and a commit asks the vault again).
func checkVaultHead(ctx context.Context, g *VaultGuard, r *store.Store, log *zap.Logger) error {
	rec, err := g.Head(ctx)
	if err != nil {
		log.Warn("could not compare the remote's head with the vault's record", zap.Error(fmt.Errorf("reading the head the vault records: %w", err)))
		return nil
	}
	if err := compareHead(rec, r.HeadRef()); err != nil {
		// Older snapshots stay readable; nothing is committed on them.
		// The remote serves less than the vault records whoever wrote
		// it: reads (check, restore) say so, as on any device.
		r.NoteRollback(err)
		// Another device's commit after this device's: that device
		// writes now, so a backup stops as taken over, naming it (exit
		// 7), not as damage for repair to find.
		r.TakenOverElsewhere(rec)
	}
	return nil
}

func (i *Instance) closeParts() {
	if i.Guard != nil {
		i.Guard.Close()
	}
	CloseRemotes(i.Remotes)
}

// Close closes the repository and the remotes.
func (i *Instance) Close() error {
	i.Store.Close()
	i.closeParts()
	return nil
}

// RetentionPolicy is the config's retention section as the repository's
// policy (restic's meanings).
func RetentionPolicy(c *configs.Config) prune.Policy {
	r := c.Retention
	return prune.Policy{KeepLast: r.KeepLast, KeepHourly: r.KeepHourly, KeepDaily: r.KeepDaily, KeepWeekly: r.KeepWeekly, KeepMonthly: r.KeepMonthly}
}

// Unreachable reports whether err, from Open, is only that a remote or
// the vault could not be reached, or that a remote which held the
// repository shows none now (a drive not mounted): trying again later may succeed, and
// nothing about the installation is wrong. The daemon waits and retries
// then, rather than exiting. A vault login that failed after the vault
// counted its password attempt is retried only if the client kept its
// blinded password (vault.ErrAttemptKept): the next try from this process
// is that attempt again. Otherwise (an account registered before the
// threshold OPRF) a retry spends another attempt, and enough of them
// erase the key (vault.ErrAttemptSpent). A vault whose certificate this
// client refuses (vault.ErrCertificate) is a configuration to fix.
func Unreachable(err error) bool {
	if errors.Is(err, vault.ErrAttemptSpent) && !errors.Is(err, vault.ErrAttemptKept) {
		return false
	}
	if errors.Is(err, vault.ErrCertificate) {
		return false // every node's certificate refused: a configuration to fix, not a wait
	}
	return errors.Is(err, remotes.ErrUnreachable) || errors.Is(err, vault.ErrUnreachable) || errors.Is(err, store.ErrRepositoryGone)
}
