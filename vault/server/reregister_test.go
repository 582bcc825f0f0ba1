package server

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/chatsafe/chatsafe/vault"
)

// A key rotation moves the account to the new key: the old key's owner
// token authorises it once and owns nothing afterwards, the new key is
// recovered with the same password, and the head record follows the new
// owner without being forgotten.
func TestReregisterMovesOwnerToNewKey(t *testing.T) {
	tv := startVault(t, t.TempDir(), nil)
	ctx := context.Background()
	c := tv.client()
	oldKey, key := newKey(t), newKey(t)
	pw := []byte("correct horse battery staple")
	if err := reg(c, ctx, "erin", pw, oldKey); err != nil {
		t.Fatal(err)
	}
	if err := c.AdvanceHead(ctx, "erin", oldKey, handleOf("erin"), vault.HeadRecord{}, headAt(1, 1)); err != nil {
		t.Fatal(err)
	}
	// A stranger's key cannot move the account.
	if _, err := c.Reregister(ctx, "erin", pw, newKey(t), key); !errors.Is(err, vault.ErrNotOwner) {
		t.Fatalf("re-registration with a stranger's owner token: %v, want ErrNotOwner", err)
	}
	h, err := c.Reregister(ctx, "erin", pw, oldKey, key)
	if err != nil {
		t.Fatalf("Reregister: %v", err)
	}
	testHandles.Store("erin", h)
	got, err := rec(c, ctx, "erin", pw)
	if err != nil || got != key {
		t.Fatalf("recovering after the re-registration: %v (new key: %v)", err, got == key)
	}
	if _, err := c.Reregister(ctx, "erin", pw, oldKey, newKey(t)); !errors.Is(err, vault.ErrNotOwner) {
		t.Fatalf("re-registration with the old owner token again: %v, want ErrNotOwner", err)
	}
	if _, err := c.Register(ctx, "erin", pw, oldKey); !errors.Is(err, vault.ErrNotOwner) {
		t.Fatalf("registration with the old key: %v, want ErrNotOwner", err)
	}
	if err := c.Delete(ctx, "erin", oldKey); !errors.Is(err, vault.ErrNotOwner) {
		t.Fatalf("deletion with the old key: %v, want ErrNotOwner", err)
	}
	if _, err := c.Head(ctx, "erin", oldKey, h); !errors.Is(err, vault.ErrNotOwner) {
		t.Fatalf("head read with the old key: %v, want ErrNotOwner", err)
	}
	head, err := c.Head(ctx, "erin", key, h)
	if err != nil || head.Seq != 1 {
		t.Fatalf("head read with the new key: seq %d, %v; want 1", head.Seq, err)
	}
	// The new key owns it: a password change works, and so does deleting.
	if _, err := c.Register(ctx, "erin", []byte("another password"), key); err != nil {
		t.Fatalf("registration with the new key: %v", err)
	}
	if err := c.Delete(ctx, "erin", key); err != nil {
		t.Fatalf("deletion with the new key: %v", err)
	}
}

// A new owner token of the wrong length is refused before anything changes.
func TestRegisterFinishRejectsShortNewOwnerToken(t *testing.T) {
	m := vault.RegisterFinishReq{Session: make([]byte, vault.SessionIDLen), Record: make([]byte, vault.RegRecordLen), WrappedKey: make([]byte, 72), OwnerToken: make([]byte, vault.OwnerTokenLen), NewOwnerToken: make([]byte, 31)}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := vault.DecodeRequest(b, &vault.RegisterFinishReq{}); !errors.Is(err, vault.ErrBadMessage) {
		t.Fatalf("DecodeRequest: %v, want ErrBadMessage", err)
	}
}
