package server

import (
	"bytes"
	"context"
	"reflect"
	"testing"

	"github.com/chatsafe/chatsafe/vault"
)

// TestHeadTellsOwnerOfAttempts: head reads and advances tell the owner the
// account's attempt counter (wrong passwords since the password last
// worked, attempts left) and, once the limit erased the key, the erasure;
// a password that works resets the count. A stranger's wrong passwords
// without the handle count on the shadow row, not the owner's.
func TestHeadTellsOwnerOfAttempts(t *testing.T) {
	tv := startVault(t, t.TempDir(), nil)
	ctx := context.Background()
	c := tv.client()
	key, pw := newKey(t), []byte("the owner's password")
	if err := reg(c, ctx, "olga", pw, key); err != nil {
		t.Fatal(err)
	}
	h := handleOf("olga")
	want := func(what string, got vault.HeadResp, failed, left int, erased bool) {
		t.Helper()
		a := got.Account
		if a == nil || a.Failed != failed || a.Left != left || a.Erased != erased {
			t.Fatalf("%s: account %+v, want failed %d, left %d, erased %v", what, a, failed, left, erased)
		}
	}
	read := func(what string, failed, left int, erased bool) {
		t.Helper()
		got, err := c.ReadHead(ctx, "olga", key, h)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		want(what, got, failed, left, erased)
	}
	read("registered", 0, DefaultMaxAttempts, false)
	for range 2 {
		_, err := rec(c, ctx, "olga", []byte("a guess"))
		wrongLeft(t, err)
	}
	for range 3 {
		if _, err := c.Recover(ctx, "olga", []byte("a stranger's guess"), vault.Handle{}); err == nil {
			t.Fatal("a login without the handle worked")
		}
	}
	read("two wrong passwords with the handle, three without", 2, DefaultMaxAttempts-2, false)
	moved, err := c.MoveHead(ctx, "olga", key, h, vault.HeadRecord{}, headAt(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	want("an advance", moved, 2, DefaultMaxAttempts-2, false)
	if moved.Head.Seq != 1 {
		t.Fatalf("the advance answered head %d", moved.Head.Seq)
	}
	if _, err := rec(c, ctx, "olga", pw); err != nil {
		t.Fatal(err)
	}
	read("the password worked", 0, DefaultMaxAttempts, false)
	for range DefaultMaxAttempts + 1 {
		_, _ = rec(c, ctx, "olga", []byte("a guess"))
	}
	read("erased", DefaultMaxAttempts, 0, true)
	if err := reg(c, ctx, "olga", []byte("a new password"), key); err != nil {
		t.Fatal(err)
	}
	h = handleOf("olga")
	read("a new password", 0, DefaultMaxAttempts, false)
}

// TestDuplicateHeadAdvanceTellsErasure: a second copy of a head advance
// (a retry in a cluster) answers the account's counter and erasure as the
// first copy did.
func TestDuplicateHeadAdvanceTellsErasure(t *testing.T) {
	l := newFSMLog(t, 2)
	a := [32]byte{11}
	registered(l, a)
	for range 3 { // the third erases at a limit of two
		l.one(Command{Op: OpAttempt, Account: a, Req: newRequestID()})
	}
	next := headAt(1, 1)
	cmd := Command{Op: OpHead, Account: a, OwnerHash: bytes.Repeat([]byte{7}, 32), Next: &next, Req: newRequestID()}
	out := l.apply(cmd, cmd)
	r1, r2 := out[0].(Result), out[1].(Result)
	if r1.Status != StatusOK || !r1.KeyErased || r1.Attempts != 2 {
		t.Fatalf("the advance on an erased account answers %+v", r1)
	}
	if !reflect.DeepEqual(r1, r2) {
		t.Fatalf("the second copy answers\n%+v\nthe first\n%+v", r2, r1)
	}
}
