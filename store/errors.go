package store

import (
	"errors"
	"fmt"
)

var (
	// ErrWrongKey means the backup key does not open this repository.
	ErrWrongKey = errors.New("wrong recovery key: it does not open this repository")
	// ErrIntegrity means an object on the remote is damaged, missing or
	// does not belong to this repository. Errors of type *IntegrityError
	// name the object and wrap it.
	ErrIntegrity = errors.New("integrity failure")
	// ErrRollback means the remote serves an older history than this device
	// has already seen (a dropped newest delta, or an old copy restored).
	ErrRollback = errors.New("remote history is older than this device last saw")
	// ErrNoRepository means there is no chatsafe repository at the remote.
	ErrNoRepository = errors.New("no chatsafe repository at this remote")
	// ErrRepositoryGone means a remote that held the repository holds
	// none now (a drive or share not mounted, a folder moved): a state to
	// wait out, not a remote to set up.
	ErrRepositoryGone = errors.New("no chatsafe repository at this remote any more")
	// ErrAwaitsFirstRemote wraps a sync of a remote other than the first
	// that failed at its first step: the first remote's check of what was
	// backed up without it. The failure is the first remote's, not this
	// one's.
	ErrAwaitsFirstRemote = errors.New("waiting for the first remote's check of what was backed up without it")
	// ErrExists means Init found a repository already there.
	ErrExists = errors.New("a chatsafe repository already exists at this remote")
	// ErrSnapshotNotFound means no snapshot matches the requested id.
	ErrSnapshotNotFound = errors.New("snapshot not found")
)

// IntegrityError names the object that failed verification.
type IntegrityError struct {
	Object string // remote object name, e.g. "deltas/0000000000000003-9f..."
	Reason string
	Err    error // underlying cause, may be nil
	// Local marks damage to this device's own copy (its spool), not to
	// the remote's: the advice differs.
	Local bool
}

func (e *IntegrityError) Error() string {
	msg := fmt.Sprintf("integrity failure in %s: %s", e.Object, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Local {
		return msg + " (this device's own copy, in its state directory, is damaged, not the remote's: check the disk that holds the state directory)"
	}
	return msg + " (the remote copy is damaged or was tampered with; run `chatsafe check --read-data`, and restore from another remote if you have one)"
}

func (e *IntegrityError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrIntegrity, e.Err}
	}
	return []error{ErrIntegrity}
}

func integrityErr(object, reason string, err error) error {
	return &IntegrityError{Object: object, Reason: reason, Err: err}
}

// spoolDamage is the integrity failure of this device's spooled copy of
// object.
func spoolDamage(object, reason string, err error) error {
	return &IntegrityError{Object: object, Reason: reason, Err: err, Local: true}
}

// noRepositoryErr is Open's error when the remote holds no repository
// config. Read-only (a restore, snapshots, check; often a new device),
// the path is what to check: a new repository is never what that user
// wants, and `chatsafe init` at a mount point with no drive behind it
// would make an empty one there. An installation that writes (backup,
// the daemon, prune) may also not be set up yet.
func (r *Store) noRepositoryErr() error {
	if r.opts.ReadOnly {
		return fmt.Errorf("%s: %w: check the path (a drive or share not mounted, a folder moved or renamed, a typo)", r.remote, ErrNoRepository)
	}
	return fmt.Errorf("%s: %w (run `chatsafe init` first, or check the path: a drive or share not mounted, a folder moved, a typo)", r.remote, ErrNoRepository)
}
