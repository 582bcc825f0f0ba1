package instance_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/internal/vaulttest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/vault"
	vaultserver "github.com/chatsafe/chatsafe/vault/server"
)

// TestRefusedPasswordFileNotTriedAgain is the daemon's start-up fetch
// (FetchKeyFromVault) on a device without a key cache, started three times
// by a service manager with the same wrong password file: one attempt is
// spent, the restarts refuse without asking the vault. A changed file is
// tried (and spends the next one); the right one gets the key.
func TestRefusedPasswordFileNotTriedAgain(t *testing.T) {
	dir := t.TempDir()
	vaultURL, vaultCA := serveVault(t, filepath.Join(dir, "vault"))
	cfg := newInstallation(t, filepath.Join(dir, "remote"))
	cfg.Key.Vault = configs.Vault{URL: vaultURL, Account: "fay", CAFile: vaultCA}
	key := behindVaultOnly(t, cfg, "fay", filepath.Join(dir, "pw"), "wrong")

	_, _, err := instance.FetchKeyFromVault(t.Context(), cfg, remotes.RetryOptions{})
	if !strings.Contains(err.Error(), "9 attempts left") {
		t.Fatalf("first start: %v", err)
	}
	for range 2 {
		_, _, err = instance.FetchKeyFromVault(t.Context(), cfg, remotes.RetryOptions{})
		if !errors.Is(err, instance.ErrPasswordFailedBefore) {
			t.Fatalf("restart with the same file: %v", err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(cfg.StateDir, "vault-password-failed")); strings.Contains(string(b), "wrong") {
		t.Fatal("the state directory holds the password")
	}
	os.WriteFile(cfg.Key.PasswordFile, []byte("also wrong"), 0o600)
	_, _, err = instance.FetchKeyFromVault(t.Context(), cfg, remotes.RetryOptions{})
	if !errors.Is(err, vault.ErrWrongPassword) || !strings.Contains(err.Error(), "8 attempts left") {
		t.Fatalf("a changed file: %v (want the second attempt spent)", err)
	}
	os.WriteFile(cfg.Key.PasswordFile, []byte("right"), 0o600)
	got, src, err := instance.FetchKeyFromVault(t.Context(), cfg, remotes.RetryOptions{})
	if err != nil || got != key || src != instance.KeyFromVault {
		t.Fatalf("the right password: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.StateDir, "vault-password-failed")); !os.IsNotExist(err) {
		t.Fatalf("the failure is still remembered after a success: %v", err)
	}
}

// TestVaultFailureAfterAnAttemptIsRetried: the daemon tries to open again
// while Unreachable says the failure was only that the vault was out of
// reach. A node failing after the login counted its password attempt (at
// login/ke1) is that too: the client keeps the login's blinded password,
// and the daemon's next try is the attempt already counted, which costs
// nothing; the message says so. A vault that refuses the connection
// before any attempt is retryable as before.
func TestVaultFailureAfterAnAttemptIsRetried(t *testing.T) {
	dir := t.TempDir()
	vaultURL, vaultCA := serveVault(t, filepath.Join(dir, "vault"))

	cfg := newInstallation(t, filepath.Join(dir, "remote"))
	cfg.Key.Vault = configs.Vault{URL: vaultURL, Account: "gus", CAFile: vaultCA}
	behindVaultOnly(t, cfg, "gus", filepath.Join(dir, "pw"), "right")
	open := func() error {
		inst, err := instance.Open(t.Context(), cfg, instance.Options{FetchKey: instance.FetchKeyFromVault})
		if err == nil {
			inst.Close()
		}
		return err
	}

	proxyURL, proxyCA := vaulttest.FailingAfterLogin(t, vaultURL, vaultCA)
	cfg.Key.Vault = configs.Vault{URL: proxyURL, Account: "gus", CAFile: proxyCA}
	for try := 1; try <= 2; try++ {
		err := open()
		if !instance.Unreachable(err) {
			t.Fatalf("try %d, a vault failing after login/begin: %v, want a failure the daemon tries again", try, err)
		}
		if !strings.Contains(err.Error(), "same attempt") {
			t.Fatalf("try %d: %q does not say that trying again is the same attempt", try, err)
		}
	}

	down := httptest.NewTLSServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	cfg.Key.Vault = configs.Vault{URL: downURL, Account: "gus", CAFile: proxyCA}
	if err := open(); !instance.Unreachable(err) {
		t.Fatalf("a vault that refuses the connection: %v, want retryable", err)
	}
	// The two tries through the failing node cost one attempt: a wrong password now is the second.
	cfg.Key.Vault = configs.Vault{URL: vaultURL, Account: "gus", CAFile: vaultCA}
	if err := os.WriteFile(cfg.Key.PasswordFile, []byte("wrong"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := instance.FetchKeyFromVault(t.Context(), cfg, remotes.RetryOptions{}); err == nil || !strings.Contains(err.Error(), "8 attempts left") {
		t.Fatalf("a wrong password after two tries of one login: %v, want 8 attempts left", err)
	}
	if err := os.WriteFile(cfg.Key.PasswordFile, []byte("right"), 0o600); err != nil {
		t.Fatal(err)
	}

	cfg.Key.Vault = configs.Vault{URL: vaultURL, Account: "gus", CAFile: vaultCA}
	if err := open(); err != nil {
		t.Fatalf("the vault back: %v", err)
	}
}

// serveVault runs a vault node without rate limits or failure delays in
// dataDir until the test ends, and returns its URL and CA file.
func serveVault(t *testing.T, dataDir string) (url, caFile string) {
	t.Helper()
	srv, err := vaultserver.NewServer(vaultserver.ServerConfig{Listen: "127.0.0.1:0", DataDir: dataDir, AccountRate: -1, AddressRate: -1, FailureDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	return "https://" + srv.Addr().String(), filepath.Join(dataDir, vaultserver.TLSCertFile)
}

// behindVaultOnly registers cfg's key with its vault as account under the
// password "right", removes the key cache, and has cfg read password
// (written to pwFile) from then on: the next open must fetch the key,
// which it returns.
func behindVaultOnly(t *testing.T, cfg *configs.Config, account, pwFile, password string) crypt.Key {
	t.Helper()
	key, err := crypt.ReadKeyCache(instance.KeyCachePath(cfg.StateDir))
	if err != nil {
		t.Fatal(err)
	}
	c, err := instance.VaultClient(cfg.Key.Vault)
	if err != nil {
		t.Fatal(err)
	}
	rems, err := instance.OpenRemotes(t.Context(), cfg, remotes.RetryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer instance.CloseRemotes(rems)
	if err := instance.RegisterVault(t.Context(), c, account, []byte("right"), key, rems); err != nil {
		t.Fatal(err)
	}
	os.Remove(instance.KeyCachePath(cfg.StateDir))
	cfg.Key.PasswordFile = pwFile
	os.WriteFile(pwFile, []byte(password), 0o600)
	return key
}

// TestLostVaultAnswerIsTheSameAttempt is the daemon's offline loop
// (FetchKeyFromVault again after a failure Unreachable calls retryable)
// on a path that loses the vault's answers: each try's login/begin reaches
// the vault and is counted there, and no answer comes back. Every try
// must send the same blinded password again, which the vault takes as the
// attempt it counted: three lost tries and the answer that then arrives
// cost one attempt, not four.
func TestLostVaultAnswerIsTheSameAttempt(t *testing.T) {
	dir := t.TempDir()
	vaultURL, vaultCA := serveVault(t, filepath.Join(dir, "vault"))

	cfg := newInstallation(t, filepath.Join(dir, "remote"))
	cfg.Key.Vault = configs.Vault{URL: vaultURL, Account: "hal", CAFile: vaultCA}
	key := behindVaultOnly(t, cfg, "hal", filepath.Join(dir, "pw"), "wrong")
	proxyURL, proxyCA, losses := vaulttest.LosingAnswers(t, vaultURL, vaultCA)
	cfg.Key.Vault = configs.Vault{URL: proxyURL, Account: "hal", CAFile: proxyCA}

	losses.Arm(true)
	for try := 1; try <= 3; try++ {
		_, _, err := instance.FetchKeyFromVault(t.Context(), cfg, remotes.RetryOptions{})
		if !instance.Unreachable(err) {
			t.Fatalf("try %d, the answer lost: %v, want a failure the daemon tries again", try, err)
		}
	}
	if losses.Lost() != 3 {
		t.Fatalf("%d answers lost, want 3", losses.Lost())
	}
	losses.Arm(false)
	_, _, err := instance.FetchKeyFromVault(t.Context(), cfg, remotes.RetryOptions{})
	if !errors.Is(err, vault.ErrWrongPassword) || !strings.Contains(err.Error(), "9 attempts left") {
		t.Fatalf("the answer to the fourth try of one wrong password: %v, want 9 attempts left", err)
	}
	// A new password file is a new guess, and counts.
	os.WriteFile(cfg.Key.PasswordFile, []byte("also wrong"), 0o600)
	if _, _, err = instance.FetchKeyFromVault(t.Context(), cfg, remotes.RetryOptions{}); !strings.Contains(err.Error(), "8 attempts left") {
		t.Fatalf("a second wrong password: %v, want 8 attempts left", err)
	}
	os.WriteFile(cfg.Key.PasswordFile, []byte("right"), 0o600)
	if got, _, err := instance.FetchKeyFromVault(t.Context(), cfg, remotes.RetryOptions{}); err != nil || got != key {
		t.Fatalf("the right password: %v", err)
	}
}

// TestLostVaultAnswerAfterTheAttempt is the daemon's offline loop on a
// path that loses the vault's answers after login/begin was answered
// (login/ke1: KE2; login/finish: the wrapped key): each try is retried
// by the daemon, and is the attempt counted at the first; the answer that
// then arrives says one attempt (a wrong password), or releases the key
// with no attempt left counted.
func TestLostVaultAnswerAfterTheAttempt(t *testing.T) {
	dir := t.TempDir()
	vaultURL, vaultCA := serveVault(t, filepath.Join(dir, "vault"))

	cfg := newInstallation(t, filepath.Join(dir, "remote"))
	cfg.Key.Vault = configs.Vault{URL: vaultURL, Account: "ida", CAFile: vaultCA}
	key := behindVaultOnly(t, cfg, "ida", filepath.Join(dir, "pw"), "wrong")
	proxyURL, proxyCA, losses := vaulttest.LosingAnswers(t, vaultURL, vaultCA)
	cfg.Key.Vault = configs.Vault{URL: proxyURL, Account: "ida", CAFile: proxyCA}

	tries := func(what string) {
		t.Helper()
		before := losses.Lost()
		for try := 1; try <= 3; try++ {
			_, _, err := instance.FetchKeyFromVault(t.Context(), cfg, remotes.RetryOptions{})
			if !instance.Unreachable(err) {
				t.Fatalf("try %d, %s lost: %v, want a failure the daemon tries again", try, what, err)
			}
		}
		if losses.Lost()-before < 3 {
			t.Fatalf("%d answers lost, want at least 3", losses.Lost()-before)
		}
	}
	losses.ArmFor(vault.PathLoginKE1)
	tries("every KE2 of a wrong password")
	losses.ArmFor()
	_, _, err := instance.FetchKeyFromVault(t.Context(), cfg, remotes.RetryOptions{})
	if !errors.Is(err, vault.ErrWrongPassword) || !strings.Contains(err.Error(), "9 attempts left") {
		t.Fatalf("the answer to the fourth try of one wrong password: %v, want 9 attempts left", err)
	}

	os.WriteFile(cfg.Key.PasswordFile, []byte("right"), 0o600)
	losses.ArmFor(vault.PathLoginKE1)
	tries("every KE2 of the right password")
	losses.ArmFor(vault.PathLoginFinish)
	tries("every wrapped key")
	losses.ArmFor()
	if got, _, err := instance.FetchKeyFromVault(t.Context(), cfg, remotes.RetryOptions{}); err != nil || got != key {
		t.Fatalf("the right password once the answers arrive: %v", err)
	}
	os.WriteFile(cfg.Key.PasswordFile, []byte("wrong again"), 0o600)
	if _, _, err = instance.FetchKeyFromVault(t.Context(), cfg, remotes.RetryOptions{}); err == nil || !strings.Contains(err.Error(), "9 attempts left") {
		t.Fatalf("a wrong password after the success: %v, want 9 attempts left (nothing left counted)", err)
	}
}
