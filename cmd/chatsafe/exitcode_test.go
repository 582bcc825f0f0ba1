package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/internal/vaulttest"
	vaultserver "github.com/chatsafe/chatsafe/vault/server"
)

// readmeExitCodes are the codes of the README's "Exit codes" table.
func readmeExitCodes(t *testing.T) []int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "### Exit codes")
	if !ok {
		t.Fatal("README has no Exit codes section")
	}
	table, _, _ = strings.Cut(table, "\n### ")
	var codes []int
	for _, m := range regexp.MustCompile(`(?m)^\| (\d+) \|`).FindAllStringSubmatch(table, -1) {
		n, _ := strconv.Atoi(m[1])
		codes = append(codes, n)
	}
	if len(codes) < 7 {
		t.Fatalf("README's exit code table has %v", codes)
	}
	return codes
}

// vaultSetup is an installation whose key the vault keeps, on a vault
// with the given limits.
func vaultSetup(t *testing.T, cfg vaultserver.ServerConfig) (restore func(pwFile string) result, pw string) {
	t.Helper()
	via, pw, url, ca := vaultSetupVia(t, cfg)
	return func(pwFile string) result { return via(pwFile, url, ca) }, pw
}

// vaultSetupVia is vaultSetup whose restore asks the vault at url (ca),
// such as a proxy in front of it; it returns the vault's own url and ca.
func vaultSetupVia(t *testing.T, cfg vaultserver.ServerConfig) (restore func(pwFile, url, ca string) result, pw, url, ca string) {
	t.Helper()
	dir := t.TempDir()
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", dir
	srv, err := vaultserver.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(t.Context()) }()
	t.Cleanup(func() { <-done })
	url, ca = "https://"+srv.Addr().String(), filepath.Join(dir, vaultserver.TLSCertFile)
	home := t.TempDir()
	src := filepath.Join(home, "chats")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "msg.txt"), []byte("hello"), 0o644)
	pw = filepath.Join(home, "pw")
	os.WriteFile(pw, []byte("correct horse battery staple\n"), 0o600)
	remote, conf := filepath.Join(home, "remote"), filepath.Join(home, "cfg.yaml")
	args := func(pwFile, url, ca string) []string {
		return []string{"--vault", url, "--vault-ca", ca, "--account", "alice", "--password-file", pwFile}
	}
	run(t, home, append([]string{"init", "--source", src, "--remote", remote, "--config", conf, "--state-dir", filepath.Join(home, "state")}, args(pw, url, ca)...)...).want(t, 0, "kept by the vault")
	run(t, home, "backup", "--config", conf).want(t, 0, "saved")
	return func(pwFile, url, ca string) result {
		return run(t, t.TempDir(), append([]string{"restore", "--remote", remote, "--to", filepath.Join(t.TempDir(), "out")}, args(pwFile, url, ca)...)...)
	}, pw, url, ca
}

func wrongPassword(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(p, []byte("wrong"), 0o600)
	return p
}

// TestEveryExitCode reaches each code of the README's table through a
// real error path, and fails when the table names a code no case reaches.
func TestEveryExitCode(t *testing.T) {
	cases := map[int]func(t *testing.T){
		0: func(t *testing.T) { run(t, t.TempDir(), "version").want(t, 0, "rclone") },
		1: func(t *testing.T) {
			// Something no code but "other failure" describes: the man
			// page directory is a file.
			f := filepath.Join(t.TempDir(), "file")
			os.WriteFile(f, nil, 0o644)
			run(t, t.TempDir(), "man", filepath.Join(f, "man1")).want(t, 1, "man page directory")
		},
		2: func(t *testing.T) {
			home := t.TempDir()
			src := filepath.Join(home, "chats")
			os.MkdirAll(src, 0o755)
			// A remote that does not parse: a backend this build lacks.
			run(t, home, "init", "--source", src, "--remote", ":nosuchbackend:x", "--config", filepath.Join(home, "c.yaml"),
				"--state-dir", filepath.Join(home, "state")).want(t, 2, "nosuchbackend")
			conf := filepath.Join(home, "rclone.conf")
			os.WriteFile(conf, []byte("[other]\ntype = local\n"), 0o600)
			run(t, home, "init", "--source", src, "--remote", "no-such-remote:x", "--rclone-config", conf, "--config", filepath.Join(home, "d.yaml"),
				"--state-dir", filepath.Join(home, "state2")).want(t, 2, `no remote "no-such-remote"`)
			// A repository written by a newer chatsafe (its config's
			// version).
			s := newSetup(t)
			run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
			b, _ := os.ReadFile(filepath.Join(s.remote, "config"))
			b[8] = 200
			os.WriteFile(filepath.Join(s.remote, "config"), b, 0o644)
			run(t, s.home, "snapshots", "--config", s.cfg).want(t, 2, "format version 200 is not supported by this chatsafe (reads 1 to 3): upgrade chatsafe")
		},
		3: func(t *testing.T) {
			restore, _ := vaultSetup(t, vaultserver.ServerConfig{AccountRate: -1, AddressRate: -1, FailureDelay: -1})
			restore(wrongPassword(t)).want(t, 3, "wrong password, 9 attempts left")
		},
		4: func(t *testing.T) {
			restore, pw := vaultSetup(t, vaultserver.ServerConfig{MaxAttempts: 1, AccountRate: -1, AddressRate: -1, FailureDelay: -1})
			restore(wrongPassword(t)).want(t, 4, "the vault erased this backup key")
			restore(pw).want(t, 4, "restore with the recovery key")
		},
		5: func(t *testing.T) {
			// The delay after wrong passwords: the free ones, one that
			// starts an hour's delay, then the vault says to wait.
			restore, pw := vaultSetup(t, vaultserver.ServerConfig{AccountRate: -1, AddressRate: -1, FailureDelay: time.Hour})
			bad := wrongPassword(t)
			for i := 0; i <= vaultserver.FreeFailures; i++ {
				restore(bad).want(t, 3, "attempts left")
			}
			restore(pw).want(t, 5, "next attempt in 1h0m0s")
		},
		6: func(t *testing.T) {
			s := newSetup(t)
			run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
			deltas, _ := filepath.Glob(filepath.Join(s.remote, "deltas", "*"))
			b, _ := os.ReadFile(deltas[0])
			b[len(b)/2] ^= 1
			os.WriteFile(deltas[0], b, 0o644)
			run(t, s.home, "check", "--config", s.cfg, "--read-data").want(t, 6, filepath.Base(deltas[0]))
			// The config's first byte after the key check: nothing in the
			// clear names the cipher, so a remote that writes over it
			// damages the config, it cannot make chatsafe ask for an
			// upgrade.
			b, _ = os.ReadFile(filepath.Join(s.remote, "config"))
			b[8+1+16+32] = 200
			os.WriteFile(filepath.Join(s.remote, "config"), b, 0o644)
			run(t, s.home, "snapshots", "--config", s.cfg).want(t, 6, "config")
		},
		7: func(t *testing.T) {
			// Another device committed after this one's last delta.
			a, b, _, _ := twoDevices(t)
			run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "saved")
			write(t, b.src, "msgstore.txt", "the new device")
			run(t, b.home, "backup", "--config", b.cfg).want(t, 0, "saved")
			write(t, a.src, "msgstore.txt", "the old device")
			run(t, a.home, "backup", "--config", a.cfg).want(t, 7, "taken over")
		},
		8: reachExit8,
		// Interrupted (Ctrl-C) and stopped (SIGTERM): 128 + the signal.
		130: reachExit130,
		143: reachExit143,
		10: func(t *testing.T) {
			// A vault node that fails after login/begin counted the
			// attempt.
			restore, pw, url, ca := vaultSetupVia(t, vaultserver.ServerConfig{AccountRate: -1, AddressRate: -1, FailureDelay: -1})
			purl, pca := vaulttest.FailingAfterLogin(t, url, ca)
			restore(pw, purl, pca).want(t, 10, "spent one of the vault's password attempts")
		},
		11: func(t *testing.T) {
			// A command that writes, while the daemon holds the state.
			s := newSetup(t)
			run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
			holdState(t, s.cfg)
			run(t, s.home, "prune", "--config", s.cfg).want(t, 11, "is the daemon running?")
		},
		9: func(t *testing.T) {
			// The newest delta is gone: the older snapshot is still
			// listed, with a warning naming what is missing.
			s := newSetup(t)
			run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
			os.WriteFile(filepath.Join(s.src, "settings.json"), []byte(`{"a":2}`), 0o644)
			run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
			deltas, _ := filepath.Glob(filepath.Join(s.remote, "deltas", "*"))
			if len(deltas) < 2 {
				t.Fatalf("want two deltas, have %v", deltas)
			}
			os.Remove(deltas[len(deltas)-1]) // names sort by sequence
			run(t, s.home, "snapshots", "--config", s.cfg).want(t, 9, "WARNING")
		},
	}
	for _, code := range readmeExitCodes(t) {
		f, ok := cases[code]
		if !ok {
			t.Errorf("the README's exit code %d is reached by no case here: add one", code)
			continue
		}
		t.Run(strconv.Itoa(code), f)
	}
}

// TestVaultRateLimitExit5: the vault's per-account rate limit exits 5
// and says when to try again.
func TestVaultRateLimitExit5(t *testing.T) {
	restore, pw := vaultSetup(t, vaultserver.ServerConfig{AccountRate: 0.001, AddressRate: -1, FailureDelay: -1})
	for range 20 {
		r := restore(pw)
		if r.code == 0 {
			continue
		}
		r.want(t, 5, "the vault takes requests again in")
		return
	}
	t.Fatal("20 restores in a row were never rate limited")
}

// A backup through an alias remote defined in an rclone.conf: the alias
// backend is built in, and the deltas land in the directory it names.
func TestBackupThroughAliasRemote(t *testing.T) {
	s := newSetup(t)
	target := filepath.Join(s.home, "alias-target")
	conf := filepath.Join(s.home, "rclone.conf")
	os.WriteFile(conf, []byte("[backups]\ntype = alias\nremote = "+target+"\n"), 0o600)
	home := t.TempDir()
	src := filepath.Join(home, "chats")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "msg.txt"), []byte("through an alias"), 0o644)
	cfg := filepath.Join(home, "c.yaml")
	run(t, home, "init", "--source", src, "--remote", "backups:chatsafe", "--rclone-config", conf, "--config", cfg,
		"--state-dir", filepath.Join(home, "state"), "--recovery-key-out", filepath.Join(home, "rk")).want(t, 0, "recovery key")
	run(t, home, "backup", "--config", cfg).want(t, 0, "saved")
	if d, _ := filepath.Glob(filepath.Join(target, "chatsafe", "deltas", "*")); len(d) == 0 {
		t.Fatalf("no delta under the alias's directory %s", target)
	}
	// A new device restores from the alias's directory directly.
	dst := filepath.Join(t.TempDir(), "out")
	run(t, t.TempDir(), "restore", "--remote", filepath.Join(target, "chatsafe"), "--recovery-key-file", filepath.Join(home, "rk"), "--to", dst).want(t, 0, "restored")
	if b, _ := os.ReadFile(filepath.Join(dst, "msg.txt")); string(b) != "through an alias" {
		t.Fatalf("restored %q", b)
	}
}

func TestVersion(t *testing.T) {
	r := run(t, t.TempDir(), "version", "--json")
	r.want(t, 0, "go_version")
	var v map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatal(err)
	}
	if v["version"] != "dev" || !strings.HasPrefix(v["go_version"].(string), "go") || v["rclone"] == "" {
		t.Fatalf("version: %v", v)
	}
	r = run(t, t.TempDir(), "--version")
	r.want(t, 0, "chatsafe dev (revision ")
	if !strings.Contains(r.stdout, "rclone "+v["rclone"].(string)) {
		t.Errorf("--version %q lacks the rclone version", r.stdout)
	}
}

func TestManPages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man1")
	run(t, t.TempDir(), "man", dir).want(t, 0, dir)
	for _, p := range []string{"chatsafe.1", "chatsafe-backup.1", "chatsafe-ui.1", "chatsafe-service-install.1"} {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil || !bytes.Contains(b, []byte(".TH \"CHATSAFE\"")) {
			t.Errorf("%s: %v", p, err)
		}
	}
}
