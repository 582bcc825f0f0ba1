package server

import (
	"context"
	"errors"
	"testing"

	"github.com/chatsafe/chatsafe/vault"
)

// Answers lost after login/begin was answered: the vault counted the
// attempt, and the client sends the same blinded element again, which the
// vault takes as that attempt (docs/vault.md, "A retried attempt is the
// same attempt").

// armOnce makes l lose its next answer only.
func armOnce(l *lostAnswers) {
	l.once.Store(true)
	l.armed.Store(true)
}

// armAll makes every node lose every answer (early: the requests).
func armAll(losses map[string]*lostAnswers, on, early bool) {
	for _, l := range losses {
		l.once.Store(false)
		l.early.Store(early)
		l.armed.Store(on)
	}
}

func lostTotal(losses map[string]*lostAnswers) int {
	n := 0
	for _, l := range losses {
		n += int(l.lost.Load())
	}
	return n
}

// Node 1 loses its answer to login/ke1 (it made KE2); the client starts
// again from login/begin with the same element on node 2: the right
// password logs in within the same Recover, and with every answer lost
// on every try (a new client each time, as the daemon's offline loop
// makes) the login stays one counted attempt.
func TestLostKE1AnswerIsTheSameAttempt(t *testing.T) {
	tc, losses := lossyCluster(t, vault.PathLoginKE1)
	ctx := context.Background()
	key := newKey(t)
	if err := reg(tc.client(), ctx, "vera", []byte("right"), key); err != nil {
		t.Fatalf("Register: %v", err)
	}
	// Node 1 loses every KE2: the retry must go to the next node, not
	// back to node 1.
	losses["1"].armed.Store(true)
	got, err := rec(tc.client(), ctx, "vera", []byte("right"))
	if err != nil || got != key {
		t.Fatalf("the right password, node 1's KE2 lost: %v (key matches %v)", err, got == key)
	}
	if n := losses["1"].lost.Load(); n != 1 {
		t.Fatalf("node 1 lost %d answers, want 1 (the retry went to the next node)", n)
	}

	armAll(losses, true, false)
	for try := 1; try <= 4; try++ {
		_, err := rec(tc.client(), ctx, "vera", []byte("right"))
		if !errors.Is(err, vault.ErrUnreachable) {
			t.Errorf("try %d, every KE2 lost: %v, want vault unreachable", try, err)
		}
		if n, erased := rowAttempts(t, tc, "vera"); n != 1 || erased {
			t.Errorf("after try %d of the right password whose KE2s were lost: %d attempts counted (erased %v), want 1", try, n, erased)
		}
	}
	armAll(losses, false, false)
	got, err = rec(tc.client(), ctx, "vera", []byte("right"))
	if err != nil || got != key {
		t.Fatalf("the right password once the answers arrive: %v (key matches %v)", err, got == key)
	}
	if n, _ := rowAttempts(t, tc, "vera"); n != 0 {
		t.Fatalf("after the success %d attempts counted, want 0", n)
	}
}

// A wrong password whose KE2 is lost once is reported as wrong within the
// same Recover (the client sees it from the KE2 of the login sent again)
// and costs one attempt; one whose KE2s are all lost is given up after a
// bounded number of tries (vault unreachable, never a loop), and its next
// try, answered, costs nothing more. Each new login of a wrong password
// counts one.
func TestWrongPasswordWithLostKE1Answer(t *testing.T) {
	tc, losses := lossyCluster(t, vault.PathLoginKE1)
	ctx := context.Background()
	if err := reg(tc.client(), ctx, "wes", []byte("right"), newKey(t)); err != nil {
		t.Fatalf("Register: %v", err)
	}
	armOnce(losses["1"])
	_, err := rec(tc.client(), ctx, "wes", []byte("wrong"))
	if left := wrongLeft(t, err); left != DefaultMaxAttempts-1 {
		t.Fatalf("a wrong password, node 1's KE2 lost: %d attempts left, want %d", left, DefaultMaxAttempts-1)
	}
	if n, _ := rowAttempts(t, tc, "wes"); n != 1 {
		t.Fatalf("%d attempts counted, want 1", n)
	}

	armAll(losses, true, false)
	_, err = rec(tc.client(), ctx, "wes", []byte("wrong again"))
	if !errors.Is(err, vault.ErrUnreachable) || errors.Is(err, vault.ErrWrongPassword) {
		t.Fatalf("a wrong password, every KE2 lost: %v, want vault unreachable", err)
	}
	if n := lostTotal(losses); n < 2 || n > 5 {
		t.Fatalf("%d answers lost in one Recover, want a few (one per node, then it gives up)", n)
	}
	armAll(losses, false, false)
	_, err = rec(tc.client(), ctx, "wes", []byte("wrong again"))
	if left := wrongLeft(t, err); left != DefaultMaxAttempts-2 {
		t.Fatalf("the next try of that wrong password, answered: %d attempts left, want %d", left, DefaultMaxAttempts-2)
	}
	_, err = rec(tc.client(), ctx, "wes", []byte("wrong again"))
	if left := wrongLeft(t, err); left != DefaultMaxAttempts-3 {
		t.Fatalf("a new login of the same wrong password: %d attempts left, want %d", left, DefaultMaxAttempts-3)
	}
}

// login/finish lost: after the node took it (it reset the counter and
// released the key, the session is gone) the client logs in again with
// the same element, which counts nothing (a success keeps the row's
// counted elements); before the node saw it, every try of the daemon's
// is the one attempt counted.
func TestLostFinishAnswerIsTheSameAttempt(t *testing.T) {
	tc, losses := lossyCluster(t, vault.PathLoginFinish)
	ctx := context.Background()
	key := newKey(t)
	if err := reg(tc.client(), ctx, "xavi", []byte("right"), key); err != nil {
		t.Fatalf("Register: %v", err)
	}
	armOnce(losses["1"])
	got, err := rec(tc.client(), ctx, "xavi", []byte("right"))
	if err != nil || got != key {
		t.Fatalf("the right password, node 1's finish answer lost: %v (key matches %v)", err, got == key)
	}
	if n, _ := rowAttempts(t, tc, "xavi"); n != 0 || losses["1"].lost.Load() != 1 {
		t.Fatalf("%d attempts counted, %d answers lost; want 0 and 1", n, losses["1"].lost.Load())
	}

	for _, early := range []bool{true, false} {
		armAll(losses, true, early)
		want := 0 // the vault took every finish: each reset the counter
		if early {
			want = 1 // no finish arrived: the login's one attempt stays counted
		}
		for try := 1; try <= 3; try++ {
			_, err := rec(tc.client(), ctx, "xavi", []byte("right"))
			if !errors.Is(err, vault.ErrUnreachable) {
				t.Errorf("try %d, every finish lost (request lost %v): %v, want vault unreachable", try, early, err)
			}
			if n, erased := rowAttempts(t, tc, "xavi"); n != want || erased {
				t.Errorf("after try %d, every finish lost (request lost %v): %d attempts counted (erased %v), want %d", try, early, n, erased, want)
			}
		}
	}
	armAll(losses, false, false)
	if got, err := rec(tc.client(), ctx, "xavi", []byte("right")); err != nil || got != key {
		t.Fatalf("the right password once the answers arrive: %v (key matches %v)", err, got == key)
	}
	_, err = rec(tc.client(), ctx, "xavi", []byte("wrong"))
	if left := wrongLeft(t, err); left != DefaultMaxAttempts-1 {
		t.Fatalf("a wrong password after it all: %d attempts left, want %d", left, DefaultMaxAttempts-1)
	}
}

// An account registered before the threshold OPRF cannot take its
// counted element again (a second session would be a free guess), so a
// lost KE2 there is a spent attempt, as before: not tried again by itself.
func TestLostKE1AnswerBeforeThresholdOPRF(t *testing.T) {
	tc, losses := lossyCluster(t, vault.PathLoginKE1)
	ctx := context.Background()
	key := newKey(t)
	legacyAccount(t, tc, "yuri", key)
	armOnce(losses["1"])
	_, err := rec(tc.client(), ctx, "yuri", []byte("right"))
	if !errors.Is(err, vault.ErrAttemptSpent) || !errors.Is(err, vault.ErrUnreachable) {
		t.Fatalf("a lost KE2 on an account from before the threshold OPRF: %v, want the attempt spent", err)
	}
	if n, _ := rowAttempts(t, tc, "yuri"); n != 1 {
		t.Fatalf("%d attempts counted, want 1 (no retry)", n)
	}
	if got, err := rec(tc.client(), ctx, "yuri", []byte("right")); err != nil || got != key {
		t.Fatalf("the next login: %v", err)
	}
}
