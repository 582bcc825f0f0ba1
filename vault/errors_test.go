package vault

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The wait a person reads is never shorter than the vault's: a wait that
// shrank in transit to 59m59.4s still reads as the hour the vault set.
func TestRetryAfterErrorRoundsUp(t *testing.T) {
	for wait, want := range map[time.Duration]string{
		time.Hour - 600*time.Millisecond: "1h0m0s",
		time.Hour - 59*time.Second:       "1h0m0s",
		time.Hour:                        "1h0m0s",
		61 * time.Second:                 "2m0s",
		1500 * time.Millisecond:          "2s",
		30 * time.Second:                 "30s",
	} {
		got := RetryAfterError{Wait: wait}.Error()
		if want := "next attempt in " + want + ";"; !strings.Contains(got, want) {
			t.Errorf("wait %v: %q lacks %q", wait, got, want)
		}
	}
}

// A kept attempt is a spent one for whoever starts over (a command run
// again) and says so, and it keeps what it wraps.
func TestAttemptKept(t *testing.T) {
	if AttemptKept(nil, time.Minute) != nil {
		t.Fatal("AttemptKept(nil) is not nil")
	}
	err := AttemptKept(fmt.Errorf("%w: node 1: reset", ErrUnreachable), 15*time.Minute)
	for _, target := range []error{ErrAttemptKept, ErrAttemptSpent, ErrUnreachable} {
		if !errors.Is(err, target) {
			t.Errorf("%v does not match %v", err, target)
		}
	}
	if AttemptSpent(err) != err {
		t.Error("AttemptSpent marked a kept attempt again")
	}
	for _, want := range []string{"node 1: reset", "within 15m0s is the same attempt", "spends one more"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	if errors.Is(AttemptSpent(fmt.Errorf("%w", ErrUnreachable)), ErrAttemptKept) {
		t.Error("a spent attempt matches ErrAttemptKept")
	}
}

// The wrong password that spent the last attempt is the news of the
// erasure; the ones before it are not.
func TestLastWrongPasswordIsErased(t *testing.T) {
	last := fmt.Errorf("recovering: %w", WrongPasswordError{Left: 0})
	if !errors.Is(last, ErrWrongPassword) || !errors.Is(last, ErrErased) || !strings.Contains(last.Error(), "erased") {
		t.Errorf("the last attempt: %v", last)
	}
	if one := (WrongPasswordError{Left: 1}); errors.Is(one, ErrErased) || !strings.Contains(one.Error(), "1 attempt left") {
		t.Errorf("one attempt left: %v", one)
	}
}

// A refusal before counting speaks for itself only: when it refused a
// login's retry whose attempt an earlier try had counted (the client's
// "starting the login again" after a lost answer), or came after a node
// that did not answer and may have counted it, "no password attempt was
// counted" is untrue.
func TestShareHoldersRefusalClaimsOnlyItself(t *testing.T) {
	fh := ShareHoldersError{Node: "https://vault-2.example.org:8443/v1/login/begin", Msg: ErrFewShareHolders.Error() + ": bring back node 1 and try again"}
	lost := fmt.Errorf("%w: https://vault-1.example.org:8443/v1/login/eval: no answer in time", ErrUnreachable)
	err := AttemptKept(fmt.Errorf("%w; starting the login again: %w", lost, fh), 15*time.Minute)
	if msg := err.Error(); strings.Contains(msg, "no password attempt was counted") {
		t.Errorf("the error says no attempt was counted, after one was: %q", msg)
	}
	if !strings.Contains(fh.Error(), "vault-2.example.org") || !strings.Contains(fh.Error(), "this refusal counted no password attempt") {
		t.Errorf("the refusal does not say what it did not count: %q", fh.Error())
	}
}
