package crypt

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/zalando/go-keyring"
)

// KeyStore says where the local copy of the backup key is kept.
type KeyStore string

const (
	// KeyStoreAuto uses the OS keyring when one answers, else the file.
	KeyStoreAuto KeyStore = "auto"
	// KeyStoreKeyring uses only the OS keyring (Secret Service, Keychain,
	// Credential Manager); without one the key cannot be kept.
	KeyStoreKeyring KeyStore = "keyring"
	// KeyStoreFile uses only the 0600 key cache file.
	KeyStoreFile KeyStore = "file"
)

// Where a cached key was found or put.
const (
	InKeyring = "keyring"
	InFile    = "file"
)

// keyringService names chatsafe's entries in the OS keyring; each
// installation's entry is named after its key cache path.
const keyringService = "chatsafe"

// ErrKeyringUnavailable is wrapped when key_store is keyring and no OS
// keyring answers.
var ErrKeyringUnavailable = errors.New("no OS keyring is available")

// ErrKeyringLocked is wrapped when the OS keyring is locked and was not
// unlocked (the prompt was dismissed, or not answered within
// KeyCache.Wait).
var ErrKeyringLocked = errors.New("the OS keyring is locked")

// DefaultKeyringWait is how long a locked keyring's unlock prompt may take
// before a key read or write gives up.
const DefaultKeyringWait = time.Minute

// KeyCache is an installation's local copy of the backup key: an entry
// in the OS keyring named after Path, or the file Path.
type KeyCache struct {
	Store KeyStore // "" means KeyStoreAuto
	Path  string
	// Wait bounds how long an unlock prompt of a locked keyring may take
	// (0: DefaultKeyringWait).
	Wait time.Duration
}

func (c KeyCache) wait() time.Duration {
	if c.Wait > 0 {
		return c.Wait
	}
	return DefaultKeyringWait
}

func (c KeyCache) account() string {
	if abs, err := filepath.Abs(c.Path); err == nil {
		return abs
	}
	return c.Path
}

// keyringUsable reports whether asking the keyring makes sense: on Linux
// and the BSDs the Secret Service lives on the session bus, and without
// one (a system service, CI, ssh) the D-Bus library would try to launch
// a bus of its own.
func keyringUsable() bool {
	switch runtime.GOOS {
	case "darwin", "windows":
		return true
	}
	return os.Getenv("DBUS_SESSION_BUS_ADDRESS") != ""
}

// Read returns the key and where it was found. With no key anywhere the
// error wraps fs.ErrNotExist. In auto mode, a keyring that does not
// answer or holds no entry sends it to the file (a cache written where
// no keyring was, or before keyring support). A locked keyring with no
// file is not "no key": the error wraps ErrKeyringLocked, so that nobody
// fetches (and spends a vault attempt on) a key the keyring holds.
func (c KeyCache) Read() (Key, string, error) {
	if c.Store != KeyStoreFile {
		k, err := c.readKeyring()
		switch {
		case err == nil:
			return k, InKeyring, nil
		case errors.Is(err, ErrKeyCacheCorrupt):
			return Key{}, "", err
		case c.Store == KeyStoreKeyring:
			return Key{}, "", err
		case errors.Is(err, ErrKeyringLocked):
			k, ferr := ReadKeyCache(c.Path)
			if errors.Is(ferr, fs.ErrNotExist) {
				return Key{}, "", err
			}
			return k, InFile, ferr
		}
	}
	k, err := ReadKeyCache(c.Path)
	return k, InFile, err
}

func (c KeyCache) readKeyring() (Key, error) {
	if !keyringUsable() {
		return Key{}, fmt.Errorf("key_store is keyring, but no session bus is set (DBUS_SESSION_BUS_ADDRESS) to reach the Secret Service; set key_store: file: %w", ErrKeyringUnavailable)
	}
	if err := unlockKeyring(c.wait()); err != nil {
		return Key{}, err
	}
	s, err := keyring.Get(keyringService, c.account())
	if errors.Is(err, keyring.ErrNotFound) {
		return Key{}, fmt.Errorf("the OS keyring holds no backup key for %s: %w", c.Path, fs.ErrNotExist)
	}
	if err != nil {
		return Key{}, fmt.Errorf("asking the OS keyring: %v: %w", err, ErrKeyringUnavailable)
	}
	b := []byte(s)
	defer clear(b)
	var k Key
	if len(b) != 2*KeySize {
		return Key{}, fmt.Errorf("%w: the OS keyring's entry %q/%q does not hold a backup key", ErrKeyCacheCorrupt, keyringService, c.account())
	}
	if _, err := hex.Decode(k[:], b); err != nil {
		return Key{}, fmt.Errorf("%w: the OS keyring's entry %q/%q does not hold a backup key", ErrKeyCacheCorrupt, keyringService, c.account())
	}
	return k, nil
}

// Write keeps k and returns where. In the keyring, a key cache file left
// from before is removed so no plaintext copy stays on disk; in auto mode
// a keyring that does not answer sends it to the file.
func (c KeyCache) Write(k Key) (string, error) {
	if c.Store != KeyStoreFile {
		err := c.writeKeyring(k)
		if err == nil {
			if rerr := os.Remove(c.Path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				return InKeyring, fmt.Errorf("the key is in the OS keyring, but removing the old key cache file failed (remove %s): %w", c.Path, rerr)
			}
			return InKeyring, nil
		}
		if c.Store == KeyStoreKeyring {
			return "", err
		}
	}
	return InFile, WriteKeyCache(c.Path, k)
}

func (c KeyCache) writeKeyring(k Key) error {
	if !keyringUsable() {
		return fmt.Errorf("key_store is keyring, but no session bus is set (DBUS_SESSION_BUS_ADDRESS) to reach the Secret Service; set key_store: file: %w", ErrKeyringUnavailable)
	}
	if err := unlockKeyring(c.wait()); err != nil {
		return err
	}
	enc := hex.EncodeToString(k[:])
	if err := keyring.Set(keyringService, c.account(), enc); err != nil {
		return fmt.Errorf("storing the key in the OS keyring: %v: %w", err, ErrKeyringUnavailable)
	}
	return nil
}
