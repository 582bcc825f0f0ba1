//go:build linux

package crypt

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zalando/go-keyring"
)

// secretService runs a real Secret Service for the test: a private
// session bus (dbus-daemon) with gnome-keyring-daemon on it, its login
// keyring unlocked with a throwaway password, and points this process at it.
func secretService(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"dbus-daemon", "gnome-keyring-daemon"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is needed to test the keyring (apt-get install dbus gnome-keyring; scripts/test does): %v", bin, err)
		}
	}
	home := t.TempDir()
	env := append(os.Environ(), "HOME="+home, "XDG_DATA_HOME="+filepath.Join(home, "data"), "XDG_RUNTIME_DIR="+filepath.Join(home, "run"))
	os.MkdirAll(filepath.Join(home, "run"), 0o700)
	bus := exec.Command("dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1")
	bus.Env = env
	out, err := bus.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Process.Kill(); bus.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the session bus address: %v", err)
	}
	addr = strings.TrimSpace(addr)
	env = append(env, "DBUS_SESSION_BUS_ADDRESS="+addr)
	// --daemonize returns once the daemon is up and registered on the bus
	// (it exits with the bus, at cleanup).
	gk := exec.Command("gnome-keyring-daemon", "--unlock", "--components=secrets", "--daemonize")
	gk.Env = env
	gk.Stdin = strings.NewReader("chatsafe-test")
	if b, err := gk.CombinedOutput(); err != nil {
		t.Fatalf("gnome-keyring-daemon: %v: %s", err, b)
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", addr)
}

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
