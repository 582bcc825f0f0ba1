package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/remotes"
)

// A recovery key has no checksum, so a slip in typing it reads as another
// key. A key one slip from the repository's (crypt.KeyEdit) is found by
// trying each such key against the config's key check: at most 1023
// HMACs over the config already read, no remote call. It tells nothing a
// holder of the remote could not find out: the key check is in the clear.

// KeyTypoError is ErrWrongKey for a key one slip from the repository's:
// Edit says where, by group and digit; no digit of either key is in its
// message (stderr may end up in logs).
type KeyTypoError struct{ Edit crypt.KeyEdit }

func (e *KeyTypoError) Error() string {
	how, that := "in "+e.Edit.String(), "that digit"
	if e.Edit.Swap {
		how, that = "by "+e.Edit.String(), "those digits"
	}
	return fmt.Sprintf("%v, but a key differing from it %s does: compare %s with the key you kept", ErrWrongKey, how, that)
}

func (e *KeyTypoError) Unwrap() error { return ErrWrongKey }

// ReadConfig reads the config object of the repository at rem, for
// CheckTypedKey. No repository there is an error wrapping
// remotes.ErrNotFound.
func ReadConfig(ctx context.Context, rem remotes.Remote) ([]byte, error) {
	return getConfig(ctx, rem)
}

// CheckTypedKey reports whether key, as a person typed or pasted it,
// opens the repository whose config object is raw (ReadConfig): nil if
// it does, ErrKeyRotated for a key rotated away from. Any other key is
// ErrWrongKey, as a *KeyTypoError when exactly one key a slip away from
// it opens the repository (the search runs only for a key that does not).
// A config that is damaged or from a newer chatsafe is the error Open
// would give.
func CheckTypedKey(raw []byte, key crypt.Key) error {
	_, _, err := decodeConfig(key, raw)
	if !errors.Is(err, ErrWrongKey) {
		return err
	}
	// decodeConfig checked the length and the magic before the key.
	var c repoConfig
	copy(c.RepoID[:], raw[len(configMagic)+1:])
	n, found := 0, crypt.KeyEdit{}
	for e, k := range key.OneEditAway() {
		if checkKey(k, c, raw) == nil {
			n, found = n+1, e
		}
	}
	if n != 1 {
		return ErrWrongKey
	}
	return &KeyTypoError{Edit: found}
}
