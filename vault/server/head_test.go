package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"

	"github.com/chatsafe/chatsafe/vault"
	"github.com/chatsafe/chatsafe/vault/client"
)

func headAt(seq uint64, device byte) vault.HeadRecord {
	d := make([]byte, vault.HeadDeltaLen)
	d[0], d[1] = byte(seq), device
	th := sha256.Sum256(d)
	dev := make([]byte, vault.HeadDeviceLen)
	dev[0] = device
	return vault.HeadRecord{Seq: seq, Delta: d, TrailerHash: th[:], Device: dev}
}

// TestClusterHeadOneCommitPerSequence races two devices, each talking to
// its own node of a 3-node cluster, to commit every sequence from the same
// previous head: for each, exactly one advance wins, the other is told the
// head moved and carries the winner's record, and every node then answers
// the same head.
func TestClusterHeadOneCommitPerSequence(t *testing.T) {
	tc := startCluster(t, 3, nil)
	ctx := context.Background()
	key := newKey(t)
	if err := reg(tc.client(), ctx, "carol", []byte("pw"), key); err != nil {
		t.Fatal(err)
	}
	h := handleOf("carol")
	devices := []*client.Client{tc.client(1, 0, 2), tc.client(2, 0, 1)}
	var prev vault.HeadRecord
	for seq := uint64(1); seq <= 8; seq++ {
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, c := range devices {
			wg.Go(func() { errs[i] = c.AdvanceHead(ctx, "carol", key, h, prev, headAt(seq, byte(i+1))) })
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if won >= 0 {
					t.Fatalf("sequence %d: both devices committed", seq)
				}
				won = i
			case errors.Is(err, vault.ErrHeadMoved):
			default:
				t.Fatalf("sequence %d, device %d: %v", seq, i+1, err)
			}
		}
		if won < 0 {
			t.Fatalf("sequence %d: neither device committed: %v", seq, errs)
		}
		var moved vault.HeadMovedError
		if !errors.As(errs[1-won], &moved) || !sameHead(moved.Head, headAt(seq, byte(won+1))) {
			t.Fatalf("sequence %d: the loser was told %+v, want the winner's head", seq, moved.Head)
		}
		prev = headAt(seq, byte(won+1))
		for i := range 3 {
			got, err := tc.client(i).Head(ctx, "carol", key, h)
			if err != nil || !sameHead(got, prev) {
				t.Fatalf("node %d after sequence %d: %+v, %v", i+1, seq, got, err)
			}
		}
	}
	// Going back is refused too, even from the recorded head.
	if err := devices[0].AdvanceHead(ctx, "carol", key, h, prev, headAt(3, 1)); !errors.Is(err, vault.ErrHeadMoved) {
		t.Fatalf("an advance to an older sequence: %v", err)
	}
}

// TestHeadOwnerOnly: without the backup key, or without the account's
// handle, the head can be neither read nor moved.
func TestHeadOwnerOnly(t *testing.T) {
	tc := startCluster(t, 3, nil)
	ctx := context.Background()
	key := newKey(t)
	c := tc.client()
	if err := reg(c, ctx, "dave", []byte("pw"), key); err != nil {
		t.Fatal(err)
	}
	h := handleOf("dave")
	if err := c.AdvanceHead(ctx, "dave", newKey(t), h, vault.HeadRecord{}, headAt(1, 9)); !errors.Is(err, vault.ErrNotOwner) {
		t.Fatalf("another key advanced the head: %v", err)
	}
	if _, err := c.Head(ctx, "dave", key, vault.Handle{}); !errors.Is(err, vault.ErrNotOwner) {
		t.Fatalf("the head was read without the handle: %v", err)
	}
	if _, err := c.Head(ctx, "nobody", key, h); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("an unknown account: %v", err)
	}
	if got, err := c.Head(ctx, "dave", key, h); err != nil || !got.IsZero() {
		t.Fatalf("a new account's head: %+v, %v", got, err)
	}
	// A password change keeps the head.
	if err := c.AdvanceHead(ctx, "dave", key, h, vault.HeadRecord{}, headAt(1, 1)); err != nil {
		t.Fatal(err)
	}
	if err := reg(c, ctx, "dave", []byte("new pw"), key); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Head(ctx, "dave", key, handleOf("dave")); err != nil || !sameHead(got, headAt(1, 1)) {
		t.Fatalf("after a password change: %+v, %v", got, err)
	}
}

// TestDeleteForgetsHead: deleting an account deletes its head record, so
// whoever registers the name next starts from no head (reading the old
// one, or being refused its first advance as "head moved", would be wrong).
func TestDeleteForgetsHead(t *testing.T) {
	tc := startCluster(t, 1, nil)
	ctx := context.Background()
	key := newKey(t)
	c := tc.client()
	if err := reg(c, ctx, "erin", []byte("pw"), key); err != nil {
		t.Fatal(err)
	}
	if err := c.AdvanceHead(ctx, "erin", key, handleOf("erin"), vault.HeadRecord{}, headAt(3, 1)); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "erin", key); err != nil {
		t.Fatal(err)
	}
	next := newKey(t)
	if err := reg(c, ctx, "erin", []byte("pw"), next); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Head(ctx, "erin", next, handleOf("erin")); err != nil || !got.IsZero() {
		t.Fatalf("the new owner reads %+v, %v; want no head", got, err)
	}
	if err := c.AdvanceHead(ctx, "erin", next, handleOf("erin"), vault.HeadRecord{}, headAt(1, 2)); err != nil {
		t.Fatalf("the new owner's first advance: %v", err)
	}
}
