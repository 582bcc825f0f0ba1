package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/vault"
)

// TestLastWrongPasswordExitsErased: each wrong password exits 3 with the
// attempts left; the one that spends the last attempt, after which the
// vault erases the key, exits 4 (the README's code for an erased key)
// and says so, as every later try does.
func TestLastWrongPasswordExitsErased(t *testing.T) {
	d := startVaultUser(t, "behind a password")
	run(t, d.home, append([]string{"init", "--source", d.src, "--remote", d.remote, "--config", d.cfg, "--state-dir", filepath.Join(d.home, "state")}, d.vaultArgs(d.pw)...)...).want(t, 0, "kept by the vault")
	bad := filepath.Join(d.home, "bad")
	os.WriteFile(bad, []byte("wrong"), 0o600)
	restore := func() result {
		return run(t, t.TempDir(), append([]string{"restore", "--remote", d.remote, "--to", filepath.Join(t.TempDir(), "out")}, d.vaultArgs(bad)...)...)
	}
	for left := 9; left >= 1; left-- {
		want := fmt.Sprintf("%d attempts left", left)
		if left == 1 {
			want = "1 attempt left"
		}
		restore().want(t, exitWrongKey, want)
	}
	restore().want(t, exitKeyErased, "erase")
	restore().want(t, exitKeyErased, "restore with the recovery key")
}

// TestVaultCertificateRefusedIsConfiguration: a vault certificate the
// client refuses is a configuration problem, not a vault out of reach:
// without --vault-ca (a self-signed certificate) and with a URL naming a
// host the certificate is not for, the command exits 2 and says what to
// pass, rather than 5 ("try again later"), which no retry could help.
func TestVaultCertificateRefusedIsConfiguration(t *testing.T) {
	d := startVaultUser(t, "behind a password")
	run(t, d.home, append([]string{"init", "--source", d.src, "--remote", d.remote, "--config", d.cfg, "--state-dir", filepath.Join(d.home, "state")}, d.vaultArgs(d.pw)...)...).want(t, 0, "kept by the vault")
	restore := func(args ...string) result {
		return run(t, t.TempDir(), append([]string{"restore", "--remote", d.remote, "--to", filepath.Join(t.TempDir(), "out"), "--account", "alice", "--password-file", d.pw}, args...)...)
	}
	restore("--vault", d.url).want(t, exitUsage, "--vault-ca")
	// The generated certificate is for the listen address, 127.0.0.1.
	_, port, _ := strings.Cut(strings.TrimPrefix(d.url, "https://"), ":")
	r := restore("--vault", "https://localhost:"+port, "--vault-ca", d.ca)
	r.want(t, exitUsage, "127.0.0.1")
	r.want(t, exitUsage, "--vault")
}

// TestHoldersGoneExitsErased: a vault cluster that refuses a login because
// too few of the key's share holders are still members (as the vault
// client returns it; vault/server's TestHoldersGoneIsNotTryAgain makes it
// on a real cluster) exits 4 like an erased key, the daemon's API gives it
// that class, and the daemon does not wait and retry it as a vault out of
// reach.
func TestHoldersGoneExitsErased(t *testing.T) {
	err := fmt.Errorf("opening the installation: recovering the backup key of %q: %w", "alice", vault.HoldersGoneError{Node: "https://vault-1.example.org:8443/v1/login/begin"})
	if code := exitCode(err); code != exitKeyErased {
		t.Errorf("exit %d, want %d", code, exitKeyErased)
	}
	if c := errorClass(err); c != statusapi.ClassKeyErased {
		t.Errorf("the daemon's API class is %q, want %q", c, statusapi.ClassKeyErased)
	}
	if instance.Unreachable(err) {
		t.Error("the daemon waits and retries it as a vault out of reach")
	}
}
