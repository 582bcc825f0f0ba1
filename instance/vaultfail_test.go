package instance_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/instance"
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
	srv, err := vaultserver.NewServer(vaultserver.ServerConfig{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "vault"), AccountRate: -1, AddressRate: -1, FailureDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(t.Context()) }()
	t.Cleanup(func() { <-done })

	cfg := newInstallation(t, filepath.Join(dir, "remote"))
	cfg.Key.Vault = configs.Vault{URL: "https://" + srv.Addr().String(), Account: "fay", CAFile: filepath.Join(dir, "vault", vaultserver.TLSCertFile)}
	key, err := crypt.ReadKeyCache(instance.KeyCachePath(cfg.StateDir))
	if err != nil {
		t.Fatal(err)
	}
	c, err := instance.VaultClient(cfg.Key.Vault)
	if err != nil {
		t.Fatal(err)
	}
	rems, err := instance.OpenRemotes(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer instance.CloseRemotes(rems)
	if err := instance.RegisterVault(t.Context(), c, "fay", []byte("right"), key, rems); err != nil {
		t.Fatal(err)
	}
	os.Remove(instance.KeyCachePath(cfg.StateDir))
	cfg.Key.PasswordFile = filepath.Join(dir, "pw")
	os.WriteFile(cfg.Key.PasswordFile, []byte("wrong"), 0o600)

	_, _, err = instance.FetchKeyFromVault(t.Context(), cfg)
	if !strings.Contains(err.Error(), "9 attempts left") {
		t.Fatalf("first start: %v", err)
	}
	for range 2 {
		_, _, err = instance.FetchKeyFromVault(t.Context(), cfg)
		if !errors.Is(err, instance.ErrPasswordFailedBefore) {
			t.Fatalf("restart with the same file: %v", err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(cfg.StateDir, "vault-password-failed")); strings.Contains(string(b), "wrong") {
		t.Fatal("the state directory holds the password")
	}
	os.WriteFile(cfg.Key.PasswordFile, []byte("also wrong"), 0o600)
	_, _, err = instance.FetchKeyFromVault(t.Context(), cfg)
	if !errors.Is(err, vault.ErrWrongPassword) || !strings.Contains(err.Error(), "8 attempts left") {
		t.Fatalf("a changed file: %v (want the second attempt spent)", err)
	}
	os.WriteFile(cfg.Key.PasswordFile, []byte("right"), 0o600)
	got, src, err := instance.FetchKeyFromVault(t.Context(), cfg)
	if err != nil || got != key || src != instance.KeyFromVault {
		t.Fatalf("the right password: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.StateDir, "vault-password-failed")); !os.IsNotExist(err) {
		t.Fatalf("the failure is still remembered after a success: %v", err)
	}
}
