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
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// ErrOtherKey means the state directory already holds another backup key:
// it belongs to another installation.
var ErrOtherKey = errors.New("the state directory holds another backup key")

// CachedKey returns the key cached for the config's state directory (in
// the OS keyring or the file, as key_store says); ok is false when there
// is none.
func CachedKey(cfg *configs.Config) (k crypt.Key, ok bool, err error) {
	k, _, err = KeyCache(cfg).Read()
	if errors.Is(err, fs.ErrNotExist) {
		return k, false, nil
	}
	if err != nil {
		return k, false, fmt.Errorf("reading the backup key: %w", err)
	}
	return k, true, nil
}

// saveKey caches key for the config's state directory, unless it is
// there already; another key there is refused.
func saveKey(cfg *configs.Config, key crypt.Key) error {
	stateDir := cfg.StateDir
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("creating the state directory: %w", err)
	}
	have, ok, err := CachedKey(cfg)
	if err != nil {
		return err
	}
	if ok && have != key {
		return fmt.Errorf("%w: %s belongs to another installation (choose another state directory with --state-dir, or remove it if you mean to start over)", ErrOtherKey, stateDir)
	}
	if ok {
		return nil
	}
	if _, err := KeyCache(cfg).Write(key); err != nil {
		return fmt.Errorf("caching the backup key: %w", err)
	}
	return nil
}

// pendingInitFile marks a state directory whose Create has not finished:
// only then does a new Create with its cached key resume instead of
// refusing the directory as another installation's.
const pendingInitFile = "init-pending"

// PendingInit reports whether stateDir holds the key of a Create that did
// not finish (run init again to finish it).
func PendingInit(stateDir string) bool {
	return fileExists(filepath.Join(stateDir, pendingInitFile))
}

// Create sets up a new installation: the key cache first (so that no
// repository ever exists whose key this device has not saved), then a new
// repository on every remote of cfg under key, then the config file at
// cfgPath. Run again with the same key and state directory after a
// failure half-way (a remote unreachable), it finishes the set-up: a
// repository already made with this key is kept.
func Create(ctx context.Context, cfg *configs.Config, cfgPath string, key crypt.Key, log *zap.Logger) error {
	return CreateWith(ctx, cfg, cfgPath, key, CreateOptions{Log: log})
}

// CreateOptions are CreateWith's settings beyond the config.
type CreateOptions struct {
	Log *zap.Logger
	// KeySaved runs once the key cache is written and before any
	// repository is made (init writes --recovery-key-out there: a failure
	// before it leaves no key file for an installation never begun).
	KeySaved func() error
	// Retry tunes the retries around each remote (its Log is Log): a
	// Budget (--retry-for) is for this set-up's calls to the remotes,
	// over the config's retry_for; the config file keeps its own.
	Retry remotes.RetryOptions
}

// CreateWith is Create with opts.
func CreateWith(ctx context.Context, cfg *configs.Config, cfgPath string, key crypt.Key, opts CreateOptions) error {
	log, keySaved := opts.Log, opts.KeySaved
	if log == nil {
		log = zap.NewNop()
	}
	retry := opts.Retry
	retry.Log = log
	rems, err := OpenRemotes(ctx, cfg, retry)
	if err != nil {
		return err
	}
	defer CloseRemotes(rems)
	// Before anything is written: a repository of another key there is
	// not ours to take over.
	exists, err := repositoryWithKey(ctx, rems[0], key, log)
	if err != nil {
		return err
	}
	if err := markPending(cfg); err != nil {
		return err
	}
	if err := saveKey(cfg, key); err != nil {
		return err
	}
	if keySaved != nil {
		if err := keySaved(); err != nil {
			return err
		}
	}
	if !exists {
		r, err := store.Init(ctx, rems[0], key, store.Options{StateDir: cfg.StateDir, Log: log})
		if err != nil {
			return err
		}
		r.Close()
	}
	if err := copyConfigTo(ctx, rems); err != nil {
		return err
	}
	if err := writeConfig(cfg, cfgPath); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(cfg.StateDir, pendingInitFile)); err != nil {
		return fmt.Errorf("finishing the set-up: %w", err)
	}
	return nil
}

// markPending marks the state directory's set-up as unfinished; a
// directory that holds a key of a finished installation is refused.
func markPending(cfg *configs.Config) error {
	stateDir := cfg.StateDir
	if _, ok, err := CachedKey(cfg); err != nil {
		return err
	} else if ok && !PendingInit(stateDir) {
		return fmt.Errorf("%w: %s already holds the backup key of a set-up installation (choose another state directory with --state-dir, or remove it if you mean to start over)", ErrOtherKey, stateDir)
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("creating the state directory: %w", err)
	}
	return writeFileSynced(filepath.Join(stateDir, pendingInitFile), nil)
}

func writeFileSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// repositoryWithKey reports whether r holds a repository that key opens.
// One that key does not open is ErrExists: another repository is there.
func repositoryWithKey(ctx context.Context, r remotes.Remote, key crypt.Key, log *zap.Logger) (bool, error) {
	st, err := store.Open(ctx, r, key, store.Options{ReadOnly: true, Log: log})
	switch {
	case err == nil:
		st.Close()
		return true, nil
	case errors.Is(err, store.ErrNoRepository):
		return false, nil
	case errors.Is(err, store.ErrWrongKey):
		return false, fmt.Errorf("%s: %w", r, store.ErrExists)
	}
	return false, err
}

// copyConfigTo gives every further remote the first one's config object,
// so a restore can read from any of them (and every delta follows).
func copyConfigTo(ctx context.Context, rems []remotes.Remote) error {
	for _, other := range rems[1:] {
		if err := store.CopyConfig(ctx, rems[0], other); err != nil {
			return err
		}
	}
	return nil
}

func writeConfig(cfg *configs.Config, cfgPath string) error {
	if cfgPath == "" {
		return nil
	}
	if err := cfg.Write(cfgPath); err != nil {
		return fmt.Errorf("writing the config: %w", err)
	}
	return nil
}

// JoinOptions tune Join.
type JoinOptions struct {
	Log *zap.Logger
	// At is the sequence of the snapshot this device's chats were
	// restored from (restore --join); 0: the head it joins at. Its first
	// backup says what other devices committed after it (store.JoinGap).
	At uint64
}

// Join sets this device up to continue an existing repository: it checks
// key against the repository on rems[0] (a wrong key or no repository:
// nothing is written), compares the repository's head with the vault's
// record when cfg names a vault (an older one is a rollback, refused), and
// then writes the key cache, the repository state (the head's sequence as
// the newest seen, so the rollback guard holds from now on) and the config
// at cfgPath. It is safe to run again after a failure half-way.
func Join(ctx context.Context, cfg *configs.Config, cfgPath string, key crypt.Key, rems []remotes.Remote, opts JoinOptions) (store.HeadRef, error) {
	log := opts.Log
	if log == nil {
		log = zap.NewNop()
	}
	st, err := store.Open(ctx, rems[0], key, store.Options{ReadOnly: true, Log: log})
	if err != nil {
		return store.HeadRef{}, err
	}
	head, repoID := st.HeadRef(), st.ID()
	st.Close()
	rotated := RotatedAway(ctx, cfg, key, rems[0], log)
	if have, ok, err := CachedKey(cfg); err != nil {
		return head, err
	} else if rotated {
		// Joining again after a key rotation: the new key replaces the old.
		if err := SwapKey(cfg, key); err != nil {
			return head, err
		}
	} else if ok && have != key {
		return head, fmt.Errorf("%w: %s belongs to another installation (choose another state directory with --state-dir)", ErrOtherKey, cfg.StateDir)
	} else if ok && fileExists(filepath.Join(cfg.StateDir, "repo-"+repoID, "state.json")) {
		// A finished join: a second config over one state directory would
		// be two installations sharing one state.
		return head, fmt.Errorf("%w: %s already joined this repository; use the config written then, or remove the state directory to start over", ErrOtherKey, cfg.StateDir)
	}
	if cfg.Key.Vault.Enabled() {
		g, err := NewVaultGuard(ctx, cfg, key, rems)
		if err != nil {
			return head, err
		}
		err = CheckHead(ctx, g, head)
		g.Close()
		if err != nil {
			return head, err
		}
	}
	if err := copyConfigTo(ctx, rems); err != nil {
		return head, err
	}
	if err := saveKey(cfg, key); err != nil {
		return head, err
	}
	// Opening with the state directory records the head as seen.
	st, err = store.Open(ctx, rems[0], key, store.Options{StateDir: cfg.StateDir, Log: log})
	if err != nil {
		return head, err
	}
	head = st.HeadRef()
	// Joining again (after a key rotation) keeps the state directory: a
	// take-over it recorded, or its own older writes, must not stop the
	// writer the join makes it.
	err = st.JoinedAt(opts.At)
	st.Close()
	if err != nil {
		return head, err
	}
	return head, writeConfig(cfg, cfgPath)
}
