// Package rotate replaces an installation's backup key: every live blob is
// re-sealed under a new random key into new deltas, the repository's
// config is switched to the new key in one write, the old deltas are
// deleted, the key cache takes the new key and a vault that kept the old
// key keeps the new one. A rotation killed at any
// point is finished by running it again (the journal in the state
// directory holds the new key; see store/rotate.go).
package rotate

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/faults"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// Result is a finished rotation.
type Result struct {
	NewKey  crypt.Key
	Resumed bool // an interrupted rotation was finished
	Deleted int  // old delta objects deleted from every remote
	// Vault is set when the vault now keeps the new key (behind the same
	// password, under a new handle).
	Vault bool
}

// Run rotates the key of the installation cfg describes. It refuses while
// another process (the daemon) holds the state lock. Call Done after the
// new recovery key has been shown and saved. retry tunes the retries
// around each remote (its Log is log; a Budget, --retry-for, holds over the
// config's retry_for). progress (nil: none) hears the re-sealing and the
// deletion of the old deltas.
func Run(ctx context.Context, cfg *configs.Config, log *zap.Logger, retry remotes.RetryOptions, progress store.ProgressFunc) (*Result, error) {
	if log == nil {
		log = zap.NewNop()
	}
	retry.Log = log
	var pw []byte
	if cfg.Key.Vault.Enabled() {
		// Read before anything changes: the new key goes to the vault
		// behind the same password once the repository uses it.
		var err error
		if pw, err = instance.VaultPassword(cfg); err != nil {
			return nil, fmt.Errorf("rotating a key kept by the vault needs the vault password: %w", err)
		}
		defer clear(pw)
	}
	rems, err := instance.OpenRemotes(ctx, cfg, retry)
	if err != nil {
		return nil, err
	}
	defer instance.CloseRemotes(rems)
	dev, err := instance.DeviceID(cfg.StateDir, true)
	if err != nil {
		return nil, err
	}
	sopts := store.Options{StateDir: cfg.StateDir, Log: log, DeviceID: dev, Rotating: true, Progress: progress}
	j, err := store.LoadRotateJournal(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	res := &Result{Resumed: j != nil}
	if j != nil {
		if res.NewKey, err = j.Key(); err != nil {
			return nil, err
		}
		ns, err := store.Open(ctx, rems[0], res.NewKey, sopts)
		if err == nil { // the config was switched already
			return res, finish(ctx, ns, rems, cfg, pw, res)
		}
		if !errors.Is(err, store.ErrWrongKey) {
			return nil, locked(err)
		}
		for _, rem := range rems {
			if err := store.DropRotateWrites(ctx, rem, cfg.StateDir, j.OldHeadSeq, res.NewKey); err != nil {
				return nil, fmt.Errorf("undoing the interrupted rotation's writes: %w", err)
			}
		}
	}
	oldKey, ok, err := instance.CachedKey(cfg)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s holds no backup key (run `chatsafe init` first)", instance.ErrNoKey, cfg.StateDir)
	}
	r, err := store.Open(ctx, rems[0], oldKey, sopts)
	if err != nil {
		return nil, locked(err)
	}
	if pw != nil {
		if err := prepareVault(ctx, cfg, pw, oldKey, rems, j == nil); err != nil {
			r.Close()
			return nil, err
		}
	}
	if j == nil {
		if j, err = start(r, cfg.StateDir); err != nil {
			r.Close()
			return nil, err
		}
		res.NewKey, _ = j.Key()
	}
	if err := reseal(ctx, r, res.NewKey, rems); err != nil {
		return nil, err
	}
	ns, err := store.Open(ctx, rems[0], res.NewKey, sopts)
	if err != nil {
		return nil, fmt.Errorf("opening the repository with the new key: %w (run `chatsafe key rotate` again)", err)
	}
	return res, finish(ctx, ns, rems, cfg, pw, res)
}

// start makes the new key and journals it before anything is sealed with it.
func start(r *store.Store, stateDir string) (*store.RotateJournal, error) {
	if f := r.Fork(); f != nil {
		return nil, fmt.Errorf("rotating the key: %w", &store.ForkError{Fork: *f})
	}
	k, err := crypt.NewKey()
	if err != nil {
		return nil, err
	}
	j := &store.RotateJournal{NewKey: hex.EncodeToString(k[:]), OldHeadSeq: r.HeadSeq()}
	if err := store.SaveRotateJournal(stateDir, j); err != nil {
		return nil, fmt.Errorf("saving the rotation journal: %w", err)
	}
	return j, faults.Point("rotate:journal")
}

// reseal marks every remote, re-seals into new deltas and switches the config.
func reseal(ctx context.Context, r *store.Store, newKey crypt.Key, rems []remotes.Remote) error {
	defer r.Close()
	unlock := r.Exclusive()
	defer unlock()
	for _, rem := range rems {
		if err := r.PutRotating(ctx, rem); err != nil {
			return err
		}
	}
	if err := faults.Point("rotate:marked"); err != nil {
		return err
	}
	return r.ResealTo(ctx, newKey, rems)
}

// finish runs after the switch: the key cache takes the new key, the
// vault (pw set) keeps it instead of the old, every mirror gets the new
// config, the old deltas and the marker are deleted.
func finish(ctx context.Context, ns *store.Store, rems []remotes.Remote, cfg *configs.Config, pw []byte, res *Result) error {
	defer ns.Close()
	if err := instance.SwapKey(cfg, res.NewKey); err != nil {
		return err
	}
	if err := faults.Point("rotate:key-cached"); err != nil {
		return err
	}
	if pw != nil {
		if err := moveVault(ctx, cfg, pw, res.NewKey, rems); err != nil {
			return err
		}
		if err := advanceVaultHead(ctx, cfg, res.NewKey, rems, ns.HeadRef()); err != nil {
			return err
		}
		res.Vault = true
	}
	if err := store.ReplaceConfig(ctx, rems[0], rems[1:]); err != nil {
		return fmt.Errorf("rotating the key: %w (run `chatsafe key rotate` again)", err)
	}
	targets := make([]*store.Target, len(rems))
	for i, rem := range rems {
		targets[i] = store.NewTarget(rem.String(), rem)
	}
	n, _, err := ns.DeleteGarbage(ctx, targets)
	res.Deleted = n
	if err != nil {
		return fmt.Errorf("rotating the key: deleting the old deltas: %w (run `chatsafe key rotate` again)", err)
	}
	if err := faults.Point("rotate:deleted"); err != nil {
		return err
	}
	for _, rem := range rems {
		if err := store.DeleteRotating(ctx, rem); err != nil {
			return err
		}
	}
	return nil
}

// Done forgets the journal: call it once the new recovery key is shown
// and saved (until then a new run shows the same key again).
func Done(cfg *configs.Config) error {
	if err := os.Remove(store.RotateJournalPath(cfg.StateDir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the rotation journal: %w", err)
	}
	return nil
}

func locked(err error) error {
	if errors.Is(err, store.ErrLocked) {
		// store's advice ends "stop it first": this says how, and what then.
		return fmt.Errorf("%w: (`chatsafe service stop`, or stop `chatsafe daemon`), run `chatsafe key rotate` again, then start it again", err)
	}
	return err
}
