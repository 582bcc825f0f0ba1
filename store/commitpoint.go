package store

import (
	"context"
	"errors"
)

// HeadRef names a repository's newest delta: what a commit point (the
// vault) records so that a device knowing nothing locally can still tell a
// rollback, and two devices cannot both commit one sequence.
type HeadRef struct {
	Seq         uint64
	DeltaID     [16]byte
	TrailerHash [32]byte // SHA-256 of the plaintext trailer
	Device      [16]byte
}

// CommitGuard is a commit point outside the remote: the store advances it
// from prev to next before it commits a delta.
type CommitGuard interface {
	Advance(ctx context.Context, prev, next HeadRef) error // ErrTakenOver-wrapping error when the recorded head is not prev
	Head(ctx context.Context) (HeadRef, error)             // zero HeadRef when none
}

// ErrTakenOver means another device committed since this one last did.
var ErrTakenOver = errors.New("taken over: another device writes this repository now")

// HeadRef is the repository's newest delta as this store loaded it (zero
// for an empty repository), with the device that wrote it (zero before
// format 3).
func (r *Store) HeadRef() HeadRef {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return headRef(r.head)
}
