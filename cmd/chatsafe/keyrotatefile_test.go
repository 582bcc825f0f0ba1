package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
)

// checkDaemonKeyFileRotated asserts that, after the rotation that printed
// stdout, the daemon's recovery-key file holds the new key printed there
// (mode 0600), that the output says so, that the key in it restores and
// that the old key gets exit 3.
func checkDaemonKeyFileRotated(t *testing.T, cfgPath, keyFile string, oldKey crypt.Key, stdout string) {
	t.Helper()
	shown := recoveryKeyRE.FindAllString(stdout, -1)
	if len(shown) != 1 {
		t.Fatalf("new recovery key shown %d times:\n%s", len(shown), stdout)
	}
	if got := readKeyFile(t, keyFile); got.RecoveryKey() != shown[0] {
		t.Fatalf("%s holds %s after the rotation, not the new key %s (the old key was %s)", keyFile, got.RecoveryKey(), shown[0], oldKey.RecoveryKey())
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s after the rotation: %v %v, want mode 0600", keyFile, fi, err)
	}
	if !strings.Contains(stdout, keyFile) {
		t.Fatalf("the output does not say %s now holds the new key:\n%s", keyFile, stdout)
	}
	remote := filepath.Join(filepath.Dir(cfgPath), "remote")
	run(t, t.TempDir(), "restore", "--remote", remote, "--recovery-key-file", keyFile, "--to", filepath.Join(t.TempDir(), "new")).want(t, 0, "restored")
	old := filepath.Join(t.TempDir(), "old-key.txt")
	os.WriteFile(old, []byte(oldKey.RecoveryKey()+"\n"), 0o600)
	run(t, t.TempDir(), "restore", "--remote", remote, "--recovery-key-file", old, "--to", filepath.Join(t.TempDir(), "old")).want(t, 3, "rotated")
}

// key rotate on an installation `chatsafe daemon` made on the embedded
// defaults replaces the old key in the recovery-key.txt the daemon wrote
// beside the config with the new key, and says so.
func TestKeyRotateReplacesDaemonKeyFile(t *testing.T) {
	home := shortTempDir(t)
	cfgPath, _ := defaultsInstallation(t, home, chatDir(t, home, "chats", 3))
	keyFile := filepath.Join(filepath.Dir(cfgPath), "recovery-key.txt")
	oldKey := readKeyFile(t, keyFile)
	r := run(t, home, "key", "rotate", "--config", cfgPath)
	r.want(t, 0, "NEW RECOVERY KEY")
	checkDaemonKeyFileRotated(t, cfgPath, keyFile, oldKey, r.stdout)
}

// An interrupted rotation, finished by running it again, ends the same:
// also when the key cache had taken the new key before the kill, and when
// the run was killed after the clean-up.
func TestKill9DuringKeyRotateReplacesDaemonKeyFile(t *testing.T) {
	for _, point := range []string{"rotate:journal", "rotate:switched", "rotate:key-cached", "rotate:deleted"} {
		t.Run(point, func(t *testing.T) {
			home := shortTempDir(t)
			cfgPath, _ := defaultsInstallation(t, home, chatDir(t, home, "chats", 3))
			keyFile := filepath.Join(filepath.Dir(cfgPath), "recovery-key.txt")
			oldKey := readKeyFile(t, keyFile)
			runCrash(t, home, point, "key", "rotate", "--config", cfgPath)
			if got := readKeyFile(t, keyFile); got != oldKey {
				t.Fatalf("%s changed before the rotation finished", keyFile)
			}
			r := run(t, home, "key", "rotate", "--config", cfgPath)
			r.want(t, 0, "finished the interrupted key rotation")
			checkDaemonKeyFileRotated(t, cfgPath, keyFile, oldKey, r.stdout)
		})
	}
}

// A recovery-key.txt beside the config that does not hold the old key (the
// person's own text, another key) is left as it is, with a warning.
func TestKeyRotateLeavesOtherKeyFile(t *testing.T) {
	another, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"notes": "my notes, not a key\n", "another key": another.RecoveryKey() + "\n"} {
		t.Run(name, func(t *testing.T) {
			home := shortTempDir(t)
			cfgPath, _ := defaultsInstallation(t, home, chatDir(t, home, "chats", 2))
			keyFile := filepath.Join(filepath.Dir(cfgPath), "recovery-key.txt")
			if err := os.WriteFile(keyFile, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			r := run(t, home, "key", "rotate", "--config", cfgPath)
			r.want(t, 0, "NEW RECOVERY KEY")
			if b, err := os.ReadFile(keyFile); err != nil || string(b) != content {
				t.Fatalf("%s was changed: %q %v", keyFile, b, err)
			}
			if !strings.Contains(r.stderr, "warning") || !strings.Contains(r.stderr, keyFile) {
				t.Fatalf("no warning naming %s:\nstdout: %s\nstderr: %s", keyFile, r.stdout, r.stderr)
			}
		})
	}
}
