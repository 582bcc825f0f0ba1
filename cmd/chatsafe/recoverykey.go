package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// recoveryKeyTries is how many times the prompt asks for the recovery key
// before the command fails with the last key's error.
const recoveryKeyTries = 3

const recoveryKeyLabel = "Recovery key (64 hex digits)"

// readRecoveryKey reads the recovery key from a file, or asks for it on a
// terminal. check (nil: none) says whether a key opens the repository. A
// malformed key, or one check refuses, is the command's error from a
// file; at the prompt it is asked for again, saying why, up to
// recoveryKeyTries times.
func readRecoveryKey(ctx context.Context, file string, p prompt, check func(crypt.Key) error) (crypt.Key, error) {
	switch {
	case file != "":
		b, err := crypt.ReadSecretFile(file)
		if err != nil {
			return crypt.Key{}, usageErr(fmt.Errorf("reading the recovery key file: %w", err))
		}
		return checkedKey(b, check)
	case isTerminal(p.stdin):
		return askRecoveryKey(ctx, p, check)
	default:
		return crypt.Key{}, usageErr(errors.New("no recovery key: pass --recovery-key-file FILE (or run on a terminal to be asked for it)"))
	}
}

// askRecoveryKey asks for the recovery key until one is well-formed and
// check takes it, at most recoveryKeyTries times. Ctrl-C and Ctrl-D end
// it at once.
func askRecoveryKey(ctx context.Context, p prompt, check func(crypt.Key) error) (crypt.Key, error) {
	label := recoveryKeyLabel + ": "
	for try := 1; ; try++ {
		b, err := p.secret(ctx, label)
		if err != nil {
			return crypt.Key{}, fmt.Errorf("reading the recovery key: %w", err)
		}
		key, err := checkedKey(b, check)
		if err == nil || try == recoveryKeyTries || !typedWrong(err) {
			return key, err
		}
		fmt.Fprintln(p.stderr, err)
		label = fmt.Sprintf("%s, try %d of %d: ", recoveryKeyLabel, try+1, recoveryKeyTries)
	}
}

// typedWrong reports whether err is the key's own fault: another try at
// the prompt may get it right.
func typedWrong(err error) bool {
	return errors.Is(err, crypt.ErrMalformedRecoveryKey) || errors.Is(err, store.ErrWrongKey) || errors.Is(err, store.ErrKeyRotated)
}

// checkedKey parses the recovery key text (and clears it) and checks it.
func checkedKey(text []byte, check func(crypt.Key) error) (crypt.Key, error) {
	key, err := crypt.ParseRecoveryKey(string(text))
	clear(text)
	if err != nil {
		return crypt.Key{}, err
	}
	if check != nil {
		if err := check(key); err != nil {
			return crypt.Key{}, err
		}
	}
	return key, nil
}

// typedKeyCheck checks a recovery key against the config of the
// repository on rems[0], read once, when first needed (nil with no
// remote). It refuses a key the config refuses: a wrong key (named by
// where it slipped when one slip from the right one, store.KeyTypoError)
// or one rotated away. A config that cannot be read is that error, as
// opening would give it (so a remote out of reach is waited for once),
// but a missing or damaged one is left for the opening that follows to
// report, as for any key.
func typedKeyCheck(ctx context.Context, rems []remotes.Remote) func(crypt.Key) error {
	if len(rems) == 0 {
		return nil
	}
	var raw []byte
	var readErr error
	read := false
	return func(key crypt.Key) error {
		if !read {
			raw, readErr = store.ReadConfig(ctx, rems[0])
			read = true
		}
		if errors.Is(readErr, remotes.ErrNotFound) {
			return nil
		}
		if readErr != nil {
			return readErr
		}
		err := store.CheckTypedKey(raw, key)
		if errors.Is(err, store.ErrWrongKey) || errors.Is(err, store.ErrKeyRotated) {
			return err
		}
		return nil
	}
}
