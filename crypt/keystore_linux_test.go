//go:build linux

package crypt

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/chatsafe/chatsafe/crypt/keyringtest"
)

// secretService runs a real Secret Service for the test (keyringtest).
func secretService(t *testing.T) *keyringtest.Service { return keyringtest.Start(t) }

// TestKeyCacheKeyring: with a Secret Service on the session bus, auto
// keeps the key in it (and removes an old plaintext file); file keeps
// it in the file; without a session bus, auto falls back to the file and
// keyring refuses.
func TestKeyCacheKeyring(t *testing.T) {
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	// No keyring: CI, a system service.
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	c := KeyCache{Store: KeyStoreAuto, Path: filepath.Join(dir, "headless")}
	if where, err := c.Write(k); err != nil || where != InFile {
		t.Fatalf("auto without a keyring: %q, %v; want the file", where, err)
	}
	if got, where, err := c.Read(); err != nil || got != k || where != InFile {
		t.Fatalf("auto without a keyring read %q, %v", where, err)
	}
	strict := KeyCache{Store: KeyStoreKeyring, Path: filepath.Join(dir, "strict")}
	if _, err := strict.Write(k); !errors.Is(err, ErrKeyringUnavailable) {
		t.Fatalf("keyring without one: %v; want ErrKeyringUnavailable", err)
	}
	if _, err := os.Stat(strict.Path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("keyring mode wrote a file: %v", err)
	}

	secretService(t)
	if _, _, err := strict.Read(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("empty keyring: %v; want fs.ErrNotExist (so the vault is asked)", err)
	}
	// The headless file moves into the keyring at the next write.
	if where, err := c.Write(k); err != nil || where != InKeyring {
		t.Fatalf("auto with a keyring: %q, %v", where, err)
	}
	if _, err := os.Stat(c.Path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the plaintext key cache stayed beside the keyring entry: %v", err)
	}
	if got, where, err := c.Read(); err != nil || got != k || where != InKeyring {
		t.Fatalf("auto with a keyring read %q, %v", where, err)
	}
	if s, err := keyring.Get(keyringService, c.Path); err != nil || len(s) != 2*KeySize {
		t.Fatalf("the Secret Service's entry: %d characters, %v", len(s), err)
	}
	// Two installations, two entries.
	k2, _ := NewKey()
	if _, err := strict.Write(k2); err != nil {
		t.Fatal(err)
	}
	if got, _, err := strict.Read(); err != nil || got != k2 {
		t.Fatalf("second installation's key: %v", err)
	}
	if got, _, _ := c.Read(); got != k {
		t.Fatal("a second installation's key replaced the first's")
	}
	// file: never the keyring.
	f := KeyCache{Store: KeyStoreFile, Path: filepath.Join(dir, "file")}
	if where, err := f.Write(k); err != nil || where != InFile {
		t.Fatalf("file mode: %q, %v", where, err)
	}
	if _, err := keyring.Get(keyringService, f.Path); !errors.Is(err, keyring.ErrNotFound) {
		t.Fatalf("file mode touched the keyring: %v", err)
	}
	// A damaged entry is corrupt, not missing (the vault is not asked).
	if err := keyring.Set(keyringService, c.Path, "not a key"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(); !errors.Is(err, ErrKeyCacheCorrupt) || strings.Contains(err.Error(), "not a key") {
		t.Fatalf("damaged entry: %v", err)
	}
}

// TestKeyringLockedPromptBounded: a login keyring that is locked, with an
// unlock prompt nobody answers (a desktop's dialog behind a locked screen,
// a daemon started before the session is unlocked), holds a key read for
// KeyCache.Wait at most, never for good. The error says the keyring is
// locked, and is not "no key" (which would send the daemon to spend a
// vault attempt); in auto mode a key cache file is still used.
func TestKeyringLockedPromptBounded(t *testing.T) {
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kr := secretService(t)
	// The wait must outlast the keyring's answers on a loaded machine, so
	// that the read reaches the prompt, which then stalls for good.
	inKeyring := KeyCache{Store: KeyStoreKeyring, Path: filepath.Join(dir, "in-keyring"), Wait: 2 * time.Second}
	if where, err := inKeyring.Write(k); err != nil || where != InKeyring {
		t.Fatalf("writing into the unlocked keyring: %q, %v", where, err)
	}
	kr.Lock(t)
	prompts := kr.StallPrompts(t)

	read := func(c KeyCache) (Key, string, error) {
		t.Helper()
		type res struct {
			k     Key
			where string
			err   error
		}
		done := make(chan res, 1)
		go func() {
			k, where, err := c.Read()
			done <- res{k, where, err}
		}()
		select {
		case r := <-done:
			return r.k, r.where, r.err
		case <-time.After(20 * time.Second):
			t.Fatalf("reading %s: still waiting for the unlock prompt after 20 s (KeyCache.Wait is %s)", c.Path, c.Wait)
			return Key{}, "", nil
		}
	}
	for _, store := range []KeyStore{KeyStoreKeyring, KeyStoreAuto} {
		c := inKeyring
		c.Store = store
		_, _, err := read(c)
		if !errors.Is(err, ErrKeyringLocked) || errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "locked") {
			t.Fatalf("%s: %v; want ErrKeyringLocked, not a missing key", store, err)
		}
	}
	if prompts() == 0 {
		t.Fatal("no unlock prompt was opened: the test did not reach the prompt")
	}
	// auto: a key cache file is used while the keyring is locked.
	withFile := KeyCache{Store: KeyStoreAuto, Path: filepath.Join(dir, "with-file"), Wait: 300 * time.Millisecond}
	if err := WriteKeyCache(withFile.Path, k); err != nil {
		t.Fatal(err)
	}
	if got, where, err := read(withFile); err != nil || got != k || where != InFile {
		t.Fatalf("auto with a file and a locked keyring: %q, %v", where, err)
	}
}

// TestKeyringUnansweredLockCheckIsBounded: when the keyring does not say
// within the wait whether it is locked (a loaded machine, a hung
// keyring), the read ends with ErrKeyringLocked in time. It used to take
// the silence for "unlocked" and hand over to go-keyring, which opens the
// unlock prompt itself and waits for it without a limit.
func TestKeyringUnansweredLockCheckIsBounded(t *testing.T) {
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	kr := secretService(t)
	c := KeyCache{Store: KeyStoreKeyring, Path: filepath.Join(t.TempDir(), "in-keyring"), Wait: 300 * time.Millisecond}
	if where, err := c.Write(k); err != nil || where != InKeyring {
		t.Fatalf("writing into the unlocked keyring: %q, %v", where, err)
	}
	kr.Lock(t)
	prompts := kr.StallPrompts(t)
	// A wait that is over before the lock check is sent: the check can
	// only fail, as it does when the keyring answers too late.
	c.Wait = time.Nanosecond
	done := make(chan error, 1)
	go func() {
		_, _, err := c.Read()
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrKeyringLocked) {
			t.Fatalf("read with an unanswered lock check: %v; want ErrKeyringLocked", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("read with an unanswered lock check still waiting after 20 s (%d unlock prompts opened)", prompts())
	}
	if n := prompts(); n != 0 {
		t.Fatalf("%d unlock prompts were opened after the wait was over", n)
	}
}
