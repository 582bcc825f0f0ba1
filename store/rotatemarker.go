package store

import (
	"bytes"
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"io"

	"github.com/chatsafe/chatsafe/remotes"
)

// The rotation marker: while a key rotation re-seals the repository, the
// object "rotating" holds the key check of the key being rotated away
// from. A reader with that key is told that a rotation is under way
// (ErrRotating) instead of meeting deltas it cannot open; once the config
// is switched, readers with the new key ignore the marker, and the
// rotation deletes it last.

// RotatingObject is the rotation marker's name.
const RotatingObject = "rotating"

// ErrRotating means a key rotation of the repository is under way.
var ErrRotating = errors.New("the repository's key is being rotated: when the rotation is finished, join again with the new recovery key (on the rotating device, run `chatsafe key rotate` again to finish an interrupted rotation)")

func (r *Store) checkRotating(ctx context.Context) error {
	if r.opts.Rotating {
		return nil
	}
	rc, err := r.remote.Get(ctx, RotatingObject, 0, 64)
	if errors.Is(err, remotes.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s from %s: %w", RotatingObject, r.remote, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64))
	if err != nil {
		return fmt.Errorf("reading %s from %s: %w", RotatingObject, r.remote, err)
	}
	kc := keyCheck(r.key, r.cfg.RepoID)
	if hmac.Equal(b, kc[:]) {
		return ErrRotating
	}
	return nil
}

// PutRotating writes the rotation marker for this store's key to rem.
func (r *Store) PutRotating(ctx context.Context, rem remotes.Remote) error {
	kc := keyCheck(r.key, r.cfg.RepoID)
	if err := rem.Put(ctx, RotatingObject, bytes.NewReader(kc[:]), int64(len(kc))); err != nil {
		return fmt.Errorf("writing the rotation marker to %s: %w", rem, err)
	}
	return nil
}

// DeleteRotating removes the rotation marker from rem.
func DeleteRotating(ctx context.Context, rem remotes.Remote) error {
	if err := rem.Delete(ctx, RotatingObject); err != nil && !errors.Is(err, remotes.ErrNotFound) {
		return fmt.Errorf("deleting the rotation marker from %s: %w", rem, err)
	}
	return nil
}
