package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// relativeVaultFiles makes, in a new working directory, what a user who
// types relative paths has there: vault/cluster.pem (the vault's
// certificate), pw.txt and the chat directory src.
func relativeVaultFiles(t *testing.T, ca string) (dir string) {
	t.Helper()
	dir = t.TempDir()
	t.Chdir(dir)
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "vault"), 0o755)
	os.MkdirAll(filepath.Join(dir, "src"), 0o755)
	write(t, dir, "vault/cluster.pem", string(pem))
	os.WriteFile(filepath.Join(dir, "pw.txt"), []byte("correct horse battery staple\n"), 0o600)
	write(t, dir, "src/msg.txt", "typed with relative paths")
	return dir
}

// TestInitRelativeVaultCA: `init --vault-ca vault/cluster.pem`, run from
// the directory holding it, writes the certificate's absolute path into
// a config elsewhere (the config reads relative paths from its own
// directory), as it does --source, --remote and --password-file: the
// backup that follows opens it.
func TestInitRelativeVaultCA(t *testing.T) {
	url, ca := startVault(t)
	dir := relativeVaultFiles(t, ca)
	cfg := filepath.Join(dir, "inst", "config.yaml")
	run(t, dir, "init", "--source", "src", "--remote", "remote", "--config", "inst/config.yaml",
		"--vault", url, "--vault-ca", "vault/cluster.pem", "--account", "dave", "--password-file", "pw.txt").want(t, 0, "kept by the vault")
	c := loadConfig(t, cfg)
	for key, paths := range map[string][2]string{
		"key.vault.ca_file": {c.Key.Vault.CAFile, filepath.Join(dir, "vault", "cluster.pem")},
		"key.password_file": {c.Key.PasswordFile, filepath.Join(dir, "pw.txt")},
		"source":            {c.Source, filepath.Join(dir, "src")},
	} {
		if paths[0] != paths[1] {
			t.Errorf("%s loads as %q, want %q:\n%s", key, paths[0], paths[1], readFile(t, cfg))
		}
	}
	run(t, dir, "backup", "--config", "inst/config.yaml").want(t, 0, "saved")
}

// TestKeySetPasswordRelativeVaultCA: `key set-password --vault-ca
// vault/cluster.pem` on an installation whose config is elsewhere writes
// the certificate's absolute path, and the backup that follows opens it.
func TestKeySetPasswordRelativeVaultCA(t *testing.T) {
	s := newSetup(t)
	url, ca := startVault(t)
	dir := relativeVaultFiles(t, ca)
	run(t, dir, "key", "set-password", "--config", s.cfg, "--vault", url, "--vault-ca", "vault/cluster.pem",
		"--account", "dave", "--password-file", "pw.txt").want(t, 0, "kept by the vault")
	c := loadConfig(t, s.cfg)
	if want := filepath.Join(dir, "vault", "cluster.pem"); c.Key.Vault.CAFile != want {
		t.Errorf("key.vault.ca_file loads as %q, want %q:\n%s", c.Key.Vault.CAFile, want, readFile(t, s.cfg))
	}
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
}

// TestKeySetPasswordChecksTheConfigFirst: a config that cannot be edited
// in place (its vault account is an anchor another key uses) is found out
// before the vault hears of the password: the vault keeps nothing, so a
// new device cannot restore with it.
func TestKeySetPasswordChecksTheConfigFirst(t *testing.T) {
	s := newSetup(t)
	url, ca := startVault(t)
	dir := relativeVaultFiles(t, ca)
	// The remote's name is the vault account's anchor: another account
	// would rename the remote too, so the edit is refused.
	text := fmt.Sprintf("source: %s\nstate_dir: %s\nkey:\n  vault:\n    url: %s\n    account: &acct local\n    ca_file: %s\nremotes:\n  - name: *acct\n    url: %s\n",
		s.src, filepath.Join(s.home, "state"), url, ca, s.remote)
	os.WriteFile(s.cfg, []byte(text), 0o600)
	loadConfig(t, s.cfg)

	r := run(t, dir, "key", "set-password", "--config", s.cfg, "--account", "erin", "--password-file", "pw.txt")
	r.want(t, exitUsage, "cannot be updated in place")
	if strings.Contains(r.stderr, "password is set") {
		t.Errorf("the vault was asked before the config was checked:\n%s", r.stderr)
	}
	if got := readFile(t, s.cfg); got != text {
		t.Errorf("the config changed:\n%s", got)
	}
	dst := filepath.Join(t.TempDir(), "out")
	res := run(t, t.TempDir(), "restore", "--remote", s.remote, "--to", dst,
		"--vault", url, "--vault-ca", ca, "--account", "erin", "--password-file", filepath.Join(dir, "pw.txt"))
	if res.code == exitOK {
		t.Errorf("the vault holds the key for erin after a refused set-password:\n%s", res.stdout)
	}
}
