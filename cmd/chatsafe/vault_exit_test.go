package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
