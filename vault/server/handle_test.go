package server

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/chatsafe/chatsafe/vault"
)

// TestStrangerCannotSpendGuesses: someone who knows only the account name
// runs login/start and abort ten times. That must not erase the owner's
// key, and the owner still recovers it.
func TestStrangerCannotSpendGuesses(t *testing.T) {
	tv := startVault(t, t.TempDir(), nil)
	ctx := context.Background()
	c := tv.client()
	key := newKey(t)
	if err := c.Register(ctx, "victim", []byte("right"), key); err != nil {
		t.Fatal(err)
	}
	for i := range DefaultMaxAttempts + 2 {
		status, body := rawPost(t, tv, tv.url+vault.PathLoginStart, vault.LoginStartReq{Account: "victim", KE1: newKE1(t, "guess")})
		if status != http.StatusOK {
			continue // erased, or told to wait: either way nothing to abort
		}
		var r vault.LoginStartResp
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		if status, body := rawPost(t, tv, tv.url+vault.PathLoginAbort, vault.LoginAbortReq{Session: r.Session}); status != http.StatusOK {
			t.Fatalf("abort %d: %d %s", i+1, status, body)
		}
	}
	got, err := c.Recover(ctx, "victim", []byte("right"))
	if err != nil || got != key {
		t.Fatalf("the owner after a stranger's %d aborted logins: %v", DefaultMaxAttempts+2, err)
	}
}
