package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/remotes"
)

// Which remotes held the repository. A remote whose folder went away (a
// drive or share not mounted, a folder moved) lists as empty, and a sync
// would make a new repository there: the config and every delta, on
// whatever disk is mounted in its place, a copy that fills the wrong disk
// and that the user believes is the backup. So the state directory
// remembers every remote this device read the repository's config from,
// or put it on (localState.Holders, by the remote's redacted
// description: its backend, path and non-secret parameters). Such a
// remote without its config is the repository gone (ErrRepositoryGone),
// a state to wait out; only `chatsafe backup --reseed NAME` fills it
// again (Reseed). It is asked before a commit, at a process's first sync
// to it, and before the first upload of every sync round (stillHolder).

// holderKey is how the state names a remote: its description, which
// leaves out secrets (remotes.Redact) and stays the same across runs.
func holderKey(rem remotes.Remote) string { return rem.String() }

// heldBefore reports whether this device saw the repository on rem.
func (r *Store) heldBefore(rem remotes.Remote) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Contains(r.state.Holders, holderKey(rem))
}

// noteHolder records that rem holds the repository (saved at once: a
// crash right after the first upload must not forget it).
func (r *Store) noteHolder(rem remotes.Remote) error {
	if !r.Writable() {
		return nil
	}
	key := holderKey(rem)
	r.mu.Lock()
	defer r.mu.Unlock()
	if slices.Contains(r.state.Holders, key) {
		return nil
	}
	r.state.Holders = append(r.state.Holders, key)
	return r.saveState()
}

// ErrReseed means a remote named to be reseeded is not one that can be:
// not in the config, or the first remote.
var ErrReseed = errors.New("cannot reseed that remote")

// ReseedNamed is Reseed for the targets of these names.
func (r *Store) ReseedNamed(names []string) error {
	ts := r.Targets()
	for _, name := range names {
		i := slices.IndexFunc(ts, func(t *Target) bool { return t.Name == name })
		if i < 0 {
			known := make([]string, len(ts))
			for j, t := range ts {
				known[j] = t.Name
			}
			return fmt.Errorf("%w: no remote %q in the config (its remotes: %s)", ErrReseed, name, strings.Join(known, ", "))
		}
		if err := r.Reseed(ts[i]); err != nil {
			return err
		}
	}
	return nil
}

// Reseed lets the next sync make the repository on t again, though it
// held it once and lost it: the user says the location is new on purpose
// (a replaced disk), not a drive that is not mounted. The first remote
// cannot be: the history is read from it, and nothing would fill it.
func (r *Store) Reseed(t *Target) error {
	if t.Remote == nil {
		return fmt.Errorf("remote %q could not be opened (fix the configuration): %w", t.Name, t.OpenErr)
	}
	if t.Remote == r.remote {
		return fmt.Errorf("%w: remote %q is the first remote, which the history is read from, and nothing could fill it again; to go on from another remote that holds the repository, list that one first in the config", ErrReseed, t.Name)
	}
	if !r.Writable() {
		return errors.New("reseeding a remote needs a writable open of the repository")
	}
	key := holderKey(t.Remote)
	r.mu.Lock()
	r.state.Holders = slices.DeleteFunc(r.state.Holders, func(k string) bool { return k == key })
	err := r.saveState()
	r.mu.Unlock()
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.seeded, t.listed, t.reseed = false, false, true
	t.mu.Unlock()
	return nil
}

// ownName is the first remote's name in the config, when the targets
// are set, else its description.
func (r *Store) ownName() string { return r.targetName(r.remote) }

// targetName is rem's name in the config, when it is a target, else its
// description.
func (r *Store) targetName(rem remotes.Remote) string {
	for _, t := range r.Targets() {
		if t.Remote == rem {
			return t.Name
		}
	}
	return rem.String()
}

// goneErr is ErrRepositoryGone for the remote called name.
func goneErr(name string) error {
	return fmt.Errorf("remote %q: %w: its config and every delta are gone (is the drive or share mounted, or was the folder moved or deleted?); nothing is uploaded there until they are back, and uploads then resume by themselves (if it is a new, empty location on purpose, `chatsafe backup --reseed %s` fills it again)", name, ErrRepositoryGone, name)
}

// firstGoneErr is ErrRepositoryGone for the first remote, which cannot
// be reseeded: the history is read from it.
func firstGoneErr(name string) error {
	return fmt.Errorf("remote %q: %w: its config and every delta are gone (is the drive or share mounted, or was the folder moved or deleted?); backups wait in the spool and are uploaded once it is back. It is the first remote, which the history is read from: if it is lost for good and another remote holds the repository, list that one first in the config", name, ErrRepositoryGone)
}

// mayFill refuses to give t the repository when t held it and lost it
// (config and every delta gone), or, with a state from before chatsafe
// kept this record (HoldersUnknown), when t holds nothing at all and the
// user did not ask for it (Reseed): which of the two it is cannot be
// known then.
func (r *Store) mayFill(ctx context.Context, t *Target) error {
	r.mu.RLock()
	unknown := r.state.HoldersUnknown
	r.mu.RUnlock()
	t.mu.Lock()
	asked := t.reseed
	t.mu.Unlock()
	if !r.heldBefore(t.Remote) && (!unknown || asked) {
		return nil
	}
	err := stillHoldsAny(ctx, t)
	if err == nil || r.heldBefore(t.Remote) || !errors.Is(err, ErrRepositoryGone) {
		return err
	}
	return fmt.Errorf("remote %q: %w: it holds no repository, and this device's state is from a chatsafe that did not record which remotes held it, so whether it held it cannot be told (is its drive or share mounted, or was the folder moved?); if it is new or meant to be filled, `chatsafe backup --reseed %s%s` fills it", t.Name, ErrRepositoryGone, t.Name, r.opts.ConfigFlag)
}

// allTargetsHeld clears HoldersUnknown once every target is recorded:
// from then on a remote not recorded is one this device never filled.
func (r *Store) allTargetsHeld() error {
	ts := r.Targets()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.state.HoldersUnknown || !r.Writable() {
		return nil
	}
	for _, t := range ts {
		if t.Remote == nil || !slices.Contains(r.state.Holders, holderKey(t.Remote)) {
			return nil
		}
	}
	r.state.HoldersUnknown = false
	return r.saveState()
}

// stillHolds asks rem, a remote that held the repository, for its
// config: gone, ErrRepositoryGone. One call: before a commit it is asked
// only when a listing of rem showed none of the deltas it held, before
// the first upload of a sync round always (stillHolder).
func stillHolds(ctx context.Context, rem remotes.Remote, name string) error {
	_, err := rem.Stat(ctx, configName)
	if errors.Is(err, remotes.ErrNotFound) {
		return goneErr(name)
	}
	if err != nil {
		return fmt.Errorf("checking that %s still holds the repository: %w", name, err)
	}
	return nil
}

// stillHoldsFirst is stillHolds for the first remote.
func stillHoldsFirst(ctx context.Context, rem remotes.Remote, name string) error {
	err := stillHolds(ctx, rem, name)
	if errors.Is(err, ErrRepositoryGone) {
		return firstGoneErr(name)
	}
	return err
}

// stillHolder runs before the first upload of a sync round to t. A
// remote this device recorded as holding the repository must hold it
// still: the checks before a commit (the first remote) and at a new
// process's first sync (the others) leave a gap, a folder that goes away
// between a commit and its upload (a retry hours later, the share
// unmounted meanwhile), and the upload would create it again: a delta
// and no config, on the disk under the mount point. One call a round,
// for the config, not one a delta; a remote that lost only its config
// (it lists its deltas) is not refused, as at seeding. A remote not
// recorded (new, or reseeded) is being filled on purpose.
func (r *Store) stillHolder(ctx context.Context, t *Target) error {
	if !r.heldBefore(t.Remote) {
		return nil
	}
	err := stillHoldsAny(ctx, t)
	if errors.Is(err, ErrRepositoryGone) && t.Remote == r.remote {
		return firstGoneErr(t.Name)
	}
	return err
}

// stillHoldsAny is stillHolds for a remote not listed yet: it is listed
// only when its config is missing (a remote whose folder is there costs
// one call).
func stillHoldsAny(ctx context.Context, t *Target) error {
	err := stillHolds(ctx, t.Remote, t.Name)
	if !errors.Is(err, ErrRepositoryGone) {
		return err
	}
	objs, lerr := t.Remote.List(ctx, deltaDir)
	if lerr != nil {
		return fmt.Errorf("listing %s: %w", t.Name, lerr)
	}
	if len(objs) == 0 {
		return err
	}
	return nil
}

// goneAtOpen is open's answer when the first remote has no config: a
// repository this device read there before (the state directory says
// so, under the cached config) is gone, not never made.
func (r *Store) goneAtOpen() bool {
	if r.opts.StateDir == "" {
		return false
	}
	raw, err := os.ReadFile(filepath.Join(r.opts.StateDir, configCacheName))
	if err != nil {
		return false
	}
	cfg, _, err := decodeConfig(r.key, raw)
	if err != nil {
		return false
	}
	st := loadState(filepath.Join(r.opts.StateDir, fmt.Sprintf("repo-%x", cfg.RepoID)), cfg.RepoID, zap.NewNop())
	return slices.Contains(st.Holders, holderKey(r.remote))
}
