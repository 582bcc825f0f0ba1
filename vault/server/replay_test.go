package server

import (
	"bytes"
	"context"
	"testing"
)

// An attempt whose blind the row counted already is that attempt again
// (Command.Reuse): no count, no delay, no erasure at the limit; on the row
// the handle picks; never without Reuse (log entries from before it).
func TestAttemptReplay(t *testing.T) {
	st, err := OpenStore(t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := [32]byte{1}
	handle := bytes.Repeat([]byte{9}, 32)
	blind := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	apply := func(c Command) Result {
		t.Helper()
		r, err := st.Apply(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	att := func(b []byte, reuse bool, hh []byte) Result {
		return apply(Command{Op: OpAttempt, Account: a, HandleHash: hh, Blind: b, Reuse: reuse})
	}
	apply(Command{Op: OpRegister, Account: a, OwnerHash: bytes.Repeat([]byte{7}, 32), Sealed: []byte("s"), HandleHash: handle})
	steps := []struct {
		name     string
		r        Result
		status   Status
		attempts int
		replay   bool
	}{
		{"first", att(blind(1), true, handle), StatusOK, 1, false},
		{"the same again", att(blind(1), true, handle), StatusOK, 1, true},
		{"the same without Reuse", att(blind(1), false, handle), StatusOK, 2, false},
		{"no blind", att(nil, true, handle), StatusOK, 3, false},
	}
	for _, s := range steps {
		if s.r.Status != s.status || s.r.Attempts != s.attempts || s.r.Replay != s.replay {
			t.Fatalf("%s: status %d attempts %d replay %v, want %d %d %v", s.name, s.r.Status, s.r.Attempts, s.r.Replay, s.status, s.attempts, s.replay)
		}
	}
	if r := att(blind(1), true, handle); r.Status != StatusOK || !r.Replay || r.Attempts != 3 || string(r.Sealed) != "s" || r.Row != a {
		t.Fatalf("the limit-th attempt's blind again: %+v, want the same attempt with the secrets, not an erasure", r)
	}
	// Without the handle the shadow row counts, and the account row's
	// blinds are not its own.
	if r := att(blind(1), true, nil); r.Replay || r.Attempts != 1 || !r.Ghost {
		t.Fatalf("the account's counted blind without the handle: %+v, want a new attempt on the shadow row", r)
	}
	if r := att(blind(2), true, handle); r.Status != StatusErased {
		t.Fatalf("a new blind past the limit: %+v, want erased", r)
	}
	if r := att(blind(1), true, handle); r.Status != StatusErased || r.Replay {
		t.Fatalf("a counted blind after the erasure: %+v, want erased", r)
	}
}

// A retried attempt is not held back by the failure delay its first copy
// set; a new one is.
func TestAttemptReplayIgnoresItsDelay(t *testing.T) {
	st, err := OpenStore(t.TempDir(), 10)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := [32]byte{2}
	for i := range FreeFailures + 1 {
		r, err := st.Apply(context.Background(), Command{Op: OpAttempt, Account: a, Blind: bytes.Repeat([]byte{byte(i + 1)}, 32), Reuse: true, Now: 1, DelayBase: 1000})
		if err != nil || r.Status != StatusOK {
			t.Fatalf("attempt %d: %+v %v", i+1, r, err)
		}
	}
	last := bytes.Repeat([]byte{FreeFailures + 1}, 32)
	r, err := st.Apply(context.Background(), Command{Op: OpAttempt, Account: a, Blind: last, Reuse: true, Now: 2, DelayBase: 1000})
	if err != nil || r.Status != StatusOK || !r.Replay || r.Attempts != FreeFailures+1 {
		t.Fatalf("the last attempt again during its delay: %+v %v, want the same attempt", r, err)
	}
	r, err = st.Apply(context.Background(), Command{Op: OpAttempt, Account: a, Blind: bytes.Repeat([]byte{99}, 32), Reuse: true, Now: 2, DelayBase: 1000})
	if err != nil || r.Status != StatusTooSoon {
		t.Fatalf("a new attempt during the delay: %+v %v, want too soon", r, err)
	}
}
