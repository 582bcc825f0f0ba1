package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The old device writes to two remotes; the new device joined on the
// second one only. These tests check what the old device says then.

// deviceIDOf is the device id (hex) a state directory holds.
func deviceIDOf(t *testing.T, stateDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stateDir, "device"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestVaultJoinOnSecondRemoteIsTakeOver: with the vault as commit point,
// the old device's backup after the new device committed on the second
// remote is a take-over naming the new device from the vault's head record
// (exit 7), not damage that repair cannot find.
func TestVaultJoinOnSecondRemoteIsTakeOver(t *testing.T) {
	a, rems, vaultArgs := vaultDevice(t, "first", "second")
	second := rems[1]

	b := newDevice(t, map[string]string{"chat.db": "new"})
	run(t, b.home, append([]string{"init", "--join", "--source", b.src, "--remote", second, "--config", b.cfg, "--state-dir", b.state}, vaultArgs...)...).want(t, 0, "newest sequence 1")
	run(t, b.home, "backup", "--config", b.cfg).want(t, 0, "saved")

	writeFiles(t, a.src, map[string]string{"chat.db": "old, day 2"})
	r := run(t, a.home, "backup", "--config", a.cfg)
	wantTakenOverBy(t, r, b)
	run(t, b.home, "check", "--config", b.cfg).want(t, 0, "no errors")
}

// TestJoinOnSecondRemoteStopsOldDevice: without a vault, the new device
// joined (restore --join) on the old device's second remote and committed
// there. The old device's next backup stops with "taken over" naming it
// (exit 7) instead of committing the same sequence and uploading a fork
// to the second remote; the second remote's history stays unforked.
func TestJoinOnSecondRemoteStopsOldDevice(t *testing.T) {
	a := newDevice(t, map[string]string{"chat.db": "old"})
	first, second := filepath.Join(a.home, "first"), filepath.Join(a.home, "second")
	keyFile := filepath.Join(a.home, "key.txt")
	run(t, a.home, "init", "--source", a.src, "--remote", first, "--remote", second, "--config", a.cfg, "--state-dir", a.state, "--recovery-key-out", keyFile).want(t, 0, "recovery key")
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "saved")

	b := newDevice(t, nil)
	run(t, b.home, "restore", "--join", "--remote", second, "--recovery-key-file", keyFile, "--to", b.src, "--config", b.cfg, "--state-dir", b.state).want(t, 0, "")
	writeFiles(t, b.src, map[string]string{"chat.db": "new"})
	run(t, b.home, "backup", "--config", b.cfg).want(t, 0, "saved")

	for i := range 2 {
		writeFiles(t, a.src, map[string]string{"chat.db": fmt.Sprint("old, day ", i+2)})
		r := run(t, a.home, "backup", "--config", a.cfg)
		r.want(t, 7, "taken over")
		if id := deviceIDOf(t, b.state); !strings.Contains(r.stderr, id[:8]) && !strings.Contains(r.stderr, "("+hostname(t)+")") {
			t.Errorf("the take-over does not name the new device:\n%s", r.stderr)
		}
	}
	if two, _ := filepath.Glob(filepath.Join(second, "deltas", "0000000000000002-*")); len(two) != 1 {
		t.Fatalf("deltas of sequence 2 on the second remote: %v", two)
	}
	run(t, b.home, "check", "--config", b.cfg).want(t, 0, "no errors")
}

func hostname(t *testing.T) string {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// vaultDevice starts a vault and a device that made a repository on the
// remotes named (directories under its home) with its password there, and
// one backup. It returns the device, the remotes' paths and the vault
// flags another device joins with.
func vaultDevice(t *testing.T, remotes ...string) (a device, paths, vaultArgs []string) {
	t.Helper()
	url, ca := startVault(t)
	a = newDevice(t, map[string]string{"chat.db": "old"})
	pw := filepath.Join(a.home, "pw")
	os.WriteFile(pw, []byte("pw"), 0o600)
	vaultArgs = []string{"--vault", url, "--vault-ca", ca, "--account", "ann", "--password-file", pw}
	args := []string{"init", "--source", a.src, "--config", a.cfg, "--state-dir", a.state}
	for _, name := range remotes {
		paths = append(paths, filepath.Join(a.home, name))
		args = append(args, "--remote", paths[len(paths)-1])
	}
	run(t, a.home, append(args, vaultArgs...)...).want(t, 0, "kept by the vault")
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "saved")
	return a, paths, vaultArgs
}

// wantTakenOverBy checks that r stopped as taken over (exit 7), naming
// device b.
func wantTakenOverBy(t *testing.T, r result, b device) {
	t.Helper()
	r.want(t, 7, "taken over")
	saidOnce(t, r, "taken over")
	if id := deviceIDOf(t, b.state); !strings.Contains(r.stderr, id[:8]) {
		t.Errorf("the take-over does not name the other device %s:\n%s", id[:8], r.stderr)
	}
}

// saidOnce fails unless exactly one line of r's output says what: a
// message a user reads twice (a log line, then the error) is noise.
func saidOnce(t *testing.T, r result, what string) {
	t.Helper()
	n := 0
	for _, l := range strings.Split(r.stderr+r.stdout, "\n") {
		if strings.Contains(strings.ToLower(l), what) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d lines say %q, want 1:\nstdout: %s\nstderr: %s", n, what, r.stdout, r.stderr)
	}
}
