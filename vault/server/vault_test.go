package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/vault"
)

func TestRegisterRecoverOnNewDevice(t *testing.T) {
	tv := startVault(t, t.TempDir(), nil)
	ctx := context.Background()
	key := newKey(t)
	password := []byte("correct horse battery staple")

	if err := reg(tv.client(), ctx, "alice", password, key); err != nil {
		t.Fatalf("Register: %v", err)
	}
	// A new device: a fresh client with nothing but the password.
	got, err := rec(tv.client(), ctx, "alice", password)
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if got != key {
		t.Fatal("recovered key differs from the registered one")
	}
	tv.Stop()

	// Neither the password nor the key (nor the owner token) is in any file
	// of the vault, in any usual encoding.
	secrets := map[string][]byte{"password": password, "backup key": key[:], "owner token": vault.OwnerToken(key, "alice"), "handle": handleBytes("alice")}
	err = filepath.WalkDir(tv.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for name, s := range secrets {
			for _, form := range encodings(s) {
				if bytes.Contains(data, form) {
					t.Errorf("%s holds the %s (as %q)", path, name, form)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func encodings(s []byte) [][]byte {
	return [][]byte{
		s,
		[]byte(hex.EncodeToString(s)),
		[]byte(strings.ToUpper(hex.EncodeToString(s))),
		[]byte(base64.StdEncoding.EncodeToString(s)),
		[]byte(base64.RawStdEncoding.EncodeToString(s)),
		[]byte(base64.URLEncoding.EncodeToString(s)),
		[]byte(base64.RawURLEncoding.EncodeToString(s)),
	}
}

func TestNineWrongThenRightResetsCounter(t *testing.T) {
	tv := startVault(t, t.TempDir(), nil)
	ctx := context.Background()
	c := tv.client()
	key := newKey(t)
	if err := reg(c, ctx, "bob", []byte("right"), key); err != nil {
		t.Fatal(err)
	}
	for i := range 9 {
		_, err := rec(c, ctx, "bob", []byte("wrong"))
		if left := wrongLeft(t, err); left != 9-i {
			t.Fatalf("attempt %d: %d left, want %d", i+1, left, 9-i)
		}
	}
	got, err := rec(c, ctx, "bob", []byte("right"))
	if err != nil || got != key {
		t.Fatalf("right password after 9 wrong: %v", err)
	}
	// The counter is back to the full allowance.
	_, err = rec(c, ctx, "bob", []byte("wrong"))
	if left := wrongLeft(t, err); left != 9 {
		t.Fatalf("after a success: %d left, want 9", left)
	}
}

func TestTenWrongErasesForGood(t *testing.T) {
	tv := startVault(t, t.TempDir(), nil)
	ctx := context.Background()
	c := tv.client()
	key := newKey(t)
	if err := reg(c, ctx, "carol", []byte("right"), key); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := rec(c, ctx, "carol", []byte("wrong")); !errors.Is(err, vault.ErrWrongPassword) {
			t.Fatalf("want a wrong password, got %v", err)
		}
	}
	if _, err := rec(c, ctx, "carol", []byte("right")); !errors.Is(err, vault.ErrErased) {
		t.Fatalf("right password after 10 wrong: want vault.ErrErased, got %v", err)
	}
	tv = tv.restart(nil)
	if _, err := rec(tv.client(), ctx, "carol", []byte("right")); !errors.Is(err, vault.ErrErased) {
		t.Fatalf("after restart: want vault.ErrErased, got %v", err)
	}
}
