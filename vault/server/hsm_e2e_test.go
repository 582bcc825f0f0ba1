package server

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/vault/hsm"
	"github.com/chatsafe/chatsafe/vault/hsm/softhsmtest"
)

// TestVaultWithSoftHSM runs the vault end to end with its master key in a
// SoftHSM2 token, then shows that the data directory alone opens nothing.
func TestVaultWithSoftHSM(t *testing.T) {
	tok := softhsmtest.New(t, "chatsafe-vault")
	hcfg := hsm.Config{Module: tok.Module, TokenLabel: tok.Label, PIN: tok.PIN}
	mk, err := hsm.Open(hcfg)
	if err != nil {
		t.Fatalf("hsm.Open: %v", err)
	}
	dir := t.TempDir()
	tv := startVault(t, dir, func(c *ServerConfig) { c.MasterKey = mk })
	ctx := context.Background()
	key := newKey(t)
	if err := reg(tv.client(), ctx, "erin", []byte("pw"), key); err != nil {
		t.Fatalf("Register: %v", err)
	}
	_, err = rec(tv.client(), ctx, "erin", []byte("wrong"))
	if left := wrongLeft(t, err); left != DefaultMaxAttempts-1 {
		t.Fatalf("%d left", left)
	}
	if got, err := rec(tv.client(), ctx, "erin", []byte("pw")); err != nil || got != key {
		t.Fatalf("Recover: %v", err)
	}
	tv.Stop()
	if err := mk.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, MasterKeyFileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a master key file exists beside an HSM-sealed vault: %v", err)
	}

	// The data directory without the token: the default key file is made
	// afresh and opens none of the sealed secrets.
	cfg := tv.cfg
	cfg.MasterKey = nil
	if srv, err := NewServer(cfg); err == nil {
		srv.ln.Close()
		srv.store.Close()
		t.Fatal("the vault started from its data directory without the token")
	} else if !errors.Is(err, errSealed) {
		t.Fatalf("without the token: %v, want a sealed-data error", err)
	}
	os.Remove(filepath.Join(dir, MasterKeyFileName))

	// With the token again, everything is there.
	mk, err = hsm.Open(hcfg)
	if err != nil {
		t.Fatalf("hsm.Open: %v", err)
	}
	defer mk.Close()
	tv = startVault(t, dir, func(c *ServerConfig) { c.MasterKey = mk })
	if got, err := rec(tv.client(), ctx, "erin", []byte("pw")); err != nil || got != key {
		t.Fatalf("Recover with the token back: %v", err)
	}
	tv.Stop()
}
