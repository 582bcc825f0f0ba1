package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyImportAfterLostKeyCache: a corrupt or lost key cache is put back
// with `key import` and the recovery key, on the installation as it is:
// its config, with the user's own settings, stays untouched. Every message
// on the way names the command.
func TestKeyImportAfterLostKeyCache(t *testing.T) {
	s := newSetup(t)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	f, err := os.OpenFile(s.cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("ui_listen: 127.0.0.1:18385   # my dashboard\n")
	f.Close()
	cfgBefore := readFile(t, s.cfg)
	keyPath := filepath.Join(s.home, "state", "key")
	good, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	torn := good[:len(good)/2]
	os.WriteFile(keyPath, torn, 0o600)

	// A corrupt cache is this installation's state to fix (exit 2), and
	// the message says how.
	run(t, s.home, "backup", "--config", s.cfg).want(t, 2, "chatsafe key import")
	// A wrong recovery key is refused before anything is written.
	wrong := filepath.Join(t.TempDir(), "wrong")
	os.WriteFile(wrong, []byte(strings.Repeat("ABCD-", 15)+"ABCD\n"), 0o600)
	run(t, s.home, "key", "import", "--config", s.cfg, "--recovery-key-file", wrong).want(t, 3, "wrong recovery key")
	if b, _ := os.ReadFile(keyPath); !bytes.Equal(b, torn) {
		t.Fatalf("a wrong key changed the key cache: %q", b)
	}
	run(t, s.home, "key", "import", "--config", s.cfg, "--recovery-key-file", s.keyFile).want(t, 0, "opens the repository")
	if b, _ := os.ReadFile(keyPath); !bytes.Equal(b, good) {
		t.Fatalf("the key cache holds %q after key import", b)
	}
	os.WriteFile(filepath.Join(s.src, "after-import.txt"), []byte("backed up again"), 0o644)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	run(t, s.home, "key", "import", "--config", s.cfg, "--recovery-key-file", s.keyFile).want(t, 0, "already")

	// A lost cache: the same way back, and init --join on the existing
	// config points to it.
	os.Remove(keyPath)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 2, "chatsafe key import")
	run(t, s.home, "init", "--join", "--source", s.src, "--remote", s.remote, "--config", s.cfg, "--recovery-key-file", s.keyFile).want(t, 2, "chatsafe key import")
	run(t, s.home, "key", "import", "--config", s.cfg, "--recovery-key-file", s.keyFile).want(t, 0, "opens the repository")
	run(t, s.home, "snapshots", "--config", s.cfg).want(t, 0, "")
	if got := readFile(t, s.cfg); got != cfgBefore {
		t.Errorf("the config changed:\n%s\nwas\n%s", got, cfgBefore)
	}
}

// TestKeyImportWithVault: with the config's vault and password file, key
// import needs no flags.
func TestKeyImportWithVault(t *testing.T) {
	d := startVaultUser(t, "behind the vault")
	state := filepath.Join(d.home, "state")
	run(t, d.home, append([]string{"init", "--source", d.src, "--remote", d.remote, "--config", d.cfg, "--state-dir", state}, d.vaultArgs(d.pw)...)...).want(t, 0, "kept by the vault")
	run(t, d.home, "backup", "--config", d.cfg).want(t, 0, "saved")
	keyPath := filepath.Join(state, "key")
	good, _ := os.ReadFile(keyPath)
	os.WriteFile(keyPath, []byte("chatsafe backup key v1\nnot a key\n"), 0o600)
	run(t, d.home, "backup", "--config", d.cfg).want(t, 2, "chatsafe key import")
	run(t, d.home, "key", "import", "--config", d.cfg).want(t, 0, "opens the repository")
	if b, _ := os.ReadFile(keyPath); !bytes.Equal(b, good) {
		t.Fatalf("the key cache holds %q after key import", b)
	}
}

// TestKeyImportAfterRotation: a device that joined before a key rotation
// takes the new key with key import, keeping its config, instead of
// removing the config and joining again.
func TestKeyImportAfterRotation(t *testing.T) {
	s := rotateSetup(t)
	bHome, bCfg, _, _ := joinSecondDevice(t, s)
	bConfig := readFile(t, bCfg)
	newKeyFile := filepath.Join(s.home, "new-key.txt")
	run(t, s.home, "key", "rotate", "--config", s.cfg, "--recovery-key-out", newKeyFile).want(t, 0, "NEW RECOVERY KEY")
	run(t, bHome, "snapshots", "--config", bCfg).want(t, 3, "rotated")
	// The old key is refused: it opens nothing now.
	run(t, bHome, "key", "import", "--config", bCfg, "--recovery-key-file", s.keyFile).want(t, 3, "rotated")
	run(t, bHome, "key", "import", "--config", bCfg, "--recovery-key-file", newKeyFile).want(t, 0, "rotated away")
	run(t, bHome, "snapshots", "--config", bCfg).want(t, 0, "")
	if k := readKeyFile(t, newKeyFile); run(t, bHome, "key", "show", "--config", bCfg).stdout != k.RecoveryKey()+"\n" {
		t.Fatal("the device does not cache the new key")
	}
	if readFile(t, bCfg) != bConfig {
		t.Error("key import changed the config")
	}
}
