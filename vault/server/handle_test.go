package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

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
	if err := reg(c, ctx, "victim", []byte("right"), key); err != nil {
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
	got, err := rec(c, ctx, "victim", []byte("right"))
	if err != nil || got != key {
		t.Fatalf("the owner after a stranger's %d aborted logins: %v", DefaultMaxAttempts+2, err)
	}
	// The stranger spent nothing of the owner's: a wrong password now
	// leaves all but one attempt.
	_, err = rec(c, ctx, "victim", []byte("wrong"))
	if left := wrongLeft(t, err); left != DefaultMaxAttempts-1 {
		t.Fatalf("owner's attempts after the stranger: %d left, want %d", left, DefaultMaxAttempts-1)
	}
	// A wrong handle is no better than none: it counts on the shadow row
	// the stranger spent, so even the right password gets "erased", as a
	// name tried ten times would; the owner's record is untouched.
	if _, err := c.Recover(ctx, "victim", []byte("right"), vault.Handle{1}); !errors.Is(err, vault.ErrErased) {
		t.Fatalf("right password, wrong handle: %v, want the stranger's answer (erased)", err)
	}
	if got, err := rec(c, ctx, "victim", []byte("right")); err != nil || got != key {
		t.Fatalf("the owner after all that: %v", err)
	}
}

// TestLoginWithoutHandleLooksUnknown: to someone without the handle, a
// registered account answers exactly like a name nobody registered: same
// status, fields, sizes and attempt counts.
func TestLoginWithoutHandleLooksUnknown(t *testing.T) {
	tv := startVault(t, t.TempDir(), nil)
	ctx := context.Background()
	if err := reg(tv.client(), ctx, "holder", []byte("right"), newKey(t)); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		var bodies [2]vault.LoginStartResp
		for i, acct := range []string{"holder", "nobody"} {
			status, body := rawPost(t, tv, tv.url+vault.PathLoginStart, vault.LoginStartReq{Account: acct, KE1: newKE1(t, "guess")})
			if status != http.StatusOK {
				t.Fatalf("%s: %d %s", acct, status, body)
			}
			if err := json.Unmarshal(body, &bodies[i]); err != nil {
				t.Fatal(err)
			}
		}
		if len(bodies[0].KE2) != len(bodies[1].KE2) || bodies[0].AttemptsLeft != bodies[1].AttemptsLeft || bodies[0].AttemptsLeft != DefaultMaxAttempts-1-round {
			t.Fatalf("round %d: without the handle %d bytes/%d left, unknown %d bytes/%d left", round, len(bodies[0].KE2), bodies[0].AttemptsLeft, len(bodies[1].KE2), bodies[1].AttemptsLeft)
		}
	}
}

// TestFailureDelays: after the free wrong passwords each one costs a
// growing wait, kept in the state (a restart does not skip it), reported
// as a RetryAfterError with no attempt spent; short waits the client
// sits out by itself.
func TestFailureDelays(t *testing.T) {
	dir := t.TempDir()
	tv := startVault(t, dir, func(c *ServerConfig) { c.FailureDelay = time.Hour })
	ctx := context.Background()
	c := tv.client()
	key := newKey(t)
	if err := reg(c, ctx, "wendy", []byte("right"), key); err != nil {
		t.Fatal(err)
	}
	for i := range FreeFailures + 1 {
		_, err := rec(c, ctx, "wendy", []byte("wrong"))
		if left := wrongLeft(t, err); left != DefaultMaxAttempts-1-i {
			t.Fatalf("wrong password %d: %d left", i+1, left)
		}
	}
	check := func(tv *testVault) {
		t.Helper()
		_, err := rec(tv.client(), ctx, "wendy", []byte("right"))
		var ra vault.RetryAfterError
		if !errors.As(err, &ra) || !errors.Is(err, vault.ErrTooSoon) || ra.Wait <= 59*time.Minute || ra.Wait > time.Hour {
			t.Fatalf("attempt during the delay: %v, want a RetryAfterError of about an hour", err)
		}
	}
	check(tv)
	tv = tv.restart(func(c *ServerConfig) { c.FailureDelay = time.Hour })
	check(tv)
	st, _, err := tv.srv.store.view(tv.srv.eng.Load().accountID("wendy"))
	if err != nil || st.Attempts != FreeFailures+1 {
		t.Fatalf("attempts spent while waiting: %d (%v), want %d", st.Attempts, err, FreeFailures+1)
	}

	// Short delays: the client waits and the attempt goes through.
	tv2 := startVault(t, t.TempDir(), func(c *ServerConfig) { c.FailureDelay = 50 * time.Millisecond })
	c2 := tv2.client()
	if err := reg(c2, ctx, "xavier", []byte("right"), key); err != nil {
		t.Fatal(err)
	}
	for i := range FreeFailures + 2 {
		_, err := rec(c2, ctx, "xavier", []byte("wrong"))
		if left := wrongLeft(t, err); left != DefaultMaxAttempts-1-i {
			t.Fatalf("wrong password %d with short delays: %d left", i+1, left)
		}
	}
	if got, err := rec(c2, ctx, "xavier", []byte("right")); err != nil || got != key {
		t.Fatalf("right password after waiting: %v", err)
	}
}

func TestFailureDelaySchedule(t *testing.T) {
	for n, want := range map[int]int64{1: 0, 3: 0, 4: 1000, 5: 2000, 6: 4000, 9: 32000, 60: maxDelay} {
		if got := failureDelay(n, 1000); got != want {
			t.Errorf("failureDelay(%d) = %d, want %d", n, got, want)
		}
	}
}
