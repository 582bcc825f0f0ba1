package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/internal/vaulttest"
	vaultclient "github.com/chatsafe/chatsafe/vault/client"
	vaultserver "github.com/chatsafe/chatsafe/vault/server"
)

// startVault runs a real vault server over HTTPS on loopback until the
// test ends and returns its URL and the certificate to pin.
func startVault(t *testing.T) (url, ca string) { return vaulttest.Start(t) }

// vaultUser is a device about to set up with a vault: a source holding
// msg.txt, a password file, a remote and a config path, all under home.
type vaultUser struct {
	url, ca, home, src, pw, remote, cfg string
}

func startVaultUser(t *testing.T, msg string) vaultUser {
	t.Helper()
	url, ca := startVault(t)
	home := t.TempDir()
	d := vaultUser{url: url, ca: ca, home: home, src: filepath.Join(home, "chats"), pw: filepath.Join(home, "pw"),
		remote: filepath.Join(home, "remote"), cfg: filepath.Join(home, "cfg.yaml")}
	os.MkdirAll(d.src, 0o755)
	os.WriteFile(filepath.Join(d.src, "msg.txt"), []byte(msg), 0o644)
	os.WriteFile(d.pw, []byte("correct horse battery staple\n"), 0o600)
	return d
}

// vaultArgs are the vault flags with the password in pwFile.
func (d vaultUser) vaultArgs(pwFile string) []string {
	return []string{"--vault", d.url, "--vault-ca", d.ca, "--account", "alice", "--password-file", pwFile}
}

func TestVaultPasswordRecovery(t *testing.T) {
	d := startVaultUser(t, "kept behind a password")
	home, src, pw, remote, cfg, vaultArgs := d.home, d.src, d.pw, d.remote, d.cfg, d.vaultArgs
	run(t, home, append([]string{"init", "--source", src, "--remote", remote, "--config", cfg, "--state-dir", filepath.Join(home, "state")}, vaultArgs(pw)...)...).want(t, 0, "kept by the vault")
	run(t, home, "backup", "--config", cfg).want(t, 0, "saved")

	// A new device with the password.
	dst := filepath.Join(t.TempDir(), "out")
	run(t, t.TempDir(), append([]string{"restore", "--remote", remote, "--to", dst}, vaultArgs(pw)...)...).want(t, 0, "restored")
	if b, _ := os.ReadFile(filepath.Join(dst, "msg.txt")); string(b) != "kept behind a password" {
		t.Fatalf("restored %q", b)
	}

	// Wrong passwords: exit 3 with the attempts left, nothing written.
	bad := filepath.Join(home, "bad")
	os.WriteFile(bad, []byte("wrong"), 0o600)
	dst2 := filepath.Join(t.TempDir(), "out")
	run(t, t.TempDir(), append([]string{"restore", "--remote", remote, "--to", dst2}, vaultArgs(bad)...)...).want(t, 3, "wrong password, 9 attempts left")
	if _, err := os.Stat(dst2); !os.IsNotExist(err) {
		t.Fatal("a wrong password created the target")
	}

	// Changing the password needs only this device's key; the old one stops working.
	pw2 := filepath.Join(home, "pw2")
	os.WriteFile(pw2, []byte("a new password"), 0o600)
	run(t, home, "key", "set-password", "--config", cfg, "--password-file", pw2).want(t, 0, "kept by the vault")
	run(t, t.TempDir(), append([]string{"restore", "--remote", remote, "--to", dst2}, vaultArgs(pw2)...)...).want(t, 0, "restored")

	// Ten wrong passwords erase the key: then even the right one gets exit 4.
	for i := 0; i < 10; i++ {
		r := run(t, t.TempDir(), append([]string{"restore", "--remote", remote, "--to", filepath.Join(t.TempDir(), "x")}, vaultArgs(bad)...)...)
		if r.code != 3 && r.code != 4 {
			t.Fatalf("wrong password %d: exit %d: %s", i, r.code, r.stderr)
		}
	}
	run(t, t.TempDir(), append([]string{"restore", "--remote", remote, "--to", filepath.Join(t.TempDir(), "y")}, vaultArgs(pw2)...)...).want(t, 4, "restore with the recovery key")
	// The recovery key still works.
	key := run(t, home, "key", "show", "--config", cfg)
	key.want(t, 0, "-")
	kf := filepath.Join(home, "rk")
	os.WriteFile(kf, []byte(key.stdout), 0o600)
	run(t, t.TempDir(), "restore", "--remote", remote, "--recovery-key-file", kf, "--to", filepath.Join(t.TempDir(), "z")).want(t, 0, "restored")
}

func TestVaultUnreachableExit5(t *testing.T) {
	s := newSetup(t)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	pw := filepath.Join(s.home, "pw")
	os.WriteFile(pw, []byte("pw"), 0o600)
	r := run(t, t.TempDir(), "restore", "--remote", s.remote, "--to", filepath.Join(t.TempDir(), "o"),
		"--vault", "https://127.0.0.1:1", "--account", "a", "--password-file", pw)
	r.want(t, 5, "unreachable")
}

// TestVaultCLIUsesProductionKSF: with vaultclient.TestKSFEnv unset (as for
// every user) the CLI derives with the production Argon2id parameters. An
// account registered so does not open with the tests' cheap parameters (a
// wrong password: the parameters are part of the derivation), and opens
// again without them.
func TestVaultCLIUsesProductionKSF(t *testing.T) {
	d := startVaultUser(t, "derived the slow way")
	home, src, remote, cfg, vaultArgs := d.home, d.src, d.remote, d.cfg, d.vaultArgs(d.pw)

	t.Setenv(vaultclient.TestKSFEnv, "")
	run(t, home, append([]string{"init", "--source", src, "--remote", remote, "--config", cfg, "--state-dir", filepath.Join(home, "state")}, vaultArgs...)...).want(t, 0, "kept by the vault")
	run(t, home, "backup", "--config", cfg).want(t, 0, "saved")

	t.Setenv(vaultclient.TestKSFEnv, testKSFParameters)
	run(t, t.TempDir(), append([]string{"restore", "--remote", remote, "--to", filepath.Join(t.TempDir(), "out")}, vaultArgs...)...).want(t, exitWrongKey, "wrong password")

	t.Setenv(vaultclient.TestKSFEnv, "")
	dst := filepath.Join(t.TempDir(), "out")
	run(t, t.TempDir(), append([]string{"restore", "--remote", remote, "--to", dst}, vaultArgs...)...).want(t, 0, "restored")
	if b, _ := os.ReadFile(filepath.Join(dst, "msg.txt")); string(b) != "derived the slow way" {
		t.Fatalf("restored %q", b)
	}
}

// TestVaultKeyNewThenClusterServe: a cluster node does not make a master
// key of its own (each would differ, and the nodes would never set up);
// `vault key new` makes the one the nodes share, and keeps it when run again.
func TestVaultKeyNewThenClusterServe(t *testing.T) {
	home := t.TempDir()
	dir := filepath.Join(home, "node1")
	ca := filepath.Join(home, "cluster.pem")
	run(t, home, "vault", "cert", "--data", dir, "--listen", "127.0.0.1:0").want(t, 0, "BEGIN CERTIFICATE")
	cert, err := os.ReadFile(filepath.Join(dir, vaultserver.TLSCertFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, cert, 0o644); err != nil {
		t.Fatal(err)
	}
	serve := []string{"vault", "serve", "--data", dir, "--listen", "127.0.0.1:0", "--node-id", "1", "--raft-listen", "127.0.0.1:0", "--cluster-ca", ca, "--peers", "1=127.0.0.1:1,2=127.0.0.1:2,3=127.0.0.1:3"}
	run(t, home, serve...).want(t, 1, "vault key new")
	if _, err := os.Stat(filepath.Join(dir, vaultserver.MasterKeyFileName)); err == nil {
		t.Fatal("a cluster node made a master key of its own")
	}
	run(t, home, "vault", "key", "new", "--data", dir).want(t, 0, "copy it")
	first, err := os.ReadFile(filepath.Join(dir, vaultserver.MasterKeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	run(t, home, "vault", "key", "new", "--data", dir).want(t, 0, "kept it")
	again, _ := os.ReadFile(filepath.Join(dir, vaultserver.MasterKeyFileName))
	if string(again) != string(first) {
		t.Fatal("vault key new replaced an existing master key")
	}
}
