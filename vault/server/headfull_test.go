package server

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/vault"
	"github.com/chatsafe/chatsafe/vault/client"
)

// fullTableEntries is the head table's size in the tests that fill it.
const fullTableEntries = 8

// TestOwnerHeadPassesFullTable: a stranger keeps the head limit's table
// full of wrong-token buckets (none refilled, so none can be dropped)
// after the owner's own bucket refilled and was dropped. The owner's head
// read and advance are still answered, on every node; the stranger's new
// wrong tokens are still refused and get no bucket.
func TestOwnerHeadPassesFullTable(t *testing.T) {
	for _, nodes := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d nodes", nodes), func(t *testing.T) {
			clock := newTestClock()
			mod := func(c *ServerConfig) {
				c.HeadRate, c.HeadBurst = 1, 60 // the defaults
				c.MaxRateEntries = fullTableEntries
				c.now = clock.now
			}
			var targets []*testVault
			var owner func(i int) *client.Client
			if nodes == 1 {
				tv := startVault(t, t.TempDir(), mod)
				targets = []*testVault{tv}
				c := tv.client()
				owner = func(int) *client.Client { return c }
			} else {
				tc := startCluster(t, nodes, mod)
				targets = tc.nodes
				cs := make([]*client.Client, nodes)
				for i := range cs {
					cs[i] = tc.client(i) // that node alone
				}
				owner = func(i int) *client.Client { return cs[i] }
			}
			ctx := context.Background()
			key := newKey(t)
			if err := reg(owner(0), ctx, "hana", []byte("pw"), key); err != nil {
				t.Fatal(err)
			}
			h := handleOf("hana")
			// The owner's bucket on every node, then a minute idle: it
			// refilled, and the first key the table has no room for drops it.
			var prev vault.HeadRecord
			for i := range targets {
				if _, err := owner(i).Head(ctx, "hana", key, h); err != nil {
					t.Fatalf("node %d: the owner's first read: %v", i+1, err)
				}
			}
			clock.advance(61 * time.Second)
			for i, tv := range targets {
				for j := range fullTableEntries {
					wrong := vault.OwnerToken(newKey(t), "hana")
					status, body := rawPost(t, tv, tv.url+vault.PathHead, vault.HeadReq{Account: "hana", OwnerToken: wrong, Handle: h[:]})
					if status != http.StatusForbidden {
						t.Fatalf("node %d: the stranger's token %d, table not yet full: %d %s", i+1, j+1, status, body)
					}
				}
				if n := headEntriesTracked(tv); n != fullTableEntries {
					t.Fatalf("node %d: %d head buckets, want %d (the stranger's)", i+1, n, fullTableEntries)
				}
				strangerRefused(t, tv, i, h)
			}
			for seq := uint64(1); seq <= 3; seq++ {
				for i, tv := range targets {
					got, err := owner(i).Head(ctx, "hana", key, h)
					if err != nil {
						t.Fatalf("node %d, round %d: the owner's read with the table full: %v", i+1, seq, err)
					}
					if !sameHead(got, prev) {
						t.Fatalf("node %d, round %d: the owner reads %+v, want %+v", i+1, seq, got, prev)
					}
					next := headAt(seq*10+uint64(i), 1)
					if err := owner(i).AdvanceHead(ctx, "hana", key, h, prev, next); err != nil {
						t.Fatalf("node %d, round %d: the owner's advance with the table full: %v", i+1, seq, err)
					}
					prev = next
					if n := headEntriesTracked(tv); n > fullTableEntries {
						t.Fatalf("node %d: %d head buckets, past the bound of %d", i+1, n, fullTableEntries)
					}
					strangerRefused(t, tv, i, h)
				}
			}
		})
	}
}

// strangerRefused checks that new wrong tokens (a read, an advance, an
// unknown account) are refused by tv's full head table without a bucket.
func strangerRefused(t *testing.T, tv *testVault, node int, h vault.Handle) {
	t.Helper()
	wrong := vault.OwnerToken(newKey(t), "hana")
	before := headEntriesTracked(tv)
	for _, req := range []vault.HeadReq{
		{Account: "hana", OwnerToken: wrong, Handle: h[:]},
		{Account: "hana", OwnerToken: wrong, Handle: h[:]},
		{Account: "hana", OwnerToken: wrong, Handle: h[:], Prev: ptr(headAt(1, 1)), Next: ptr(headAt(1000, 9))},
		{Account: "nobody", OwnerToken: wrong},
	} {
		status, body := rawPost(t, tv, tv.url+vault.PathHead, req)
		if status != http.StatusTooManyRequests {
			t.Fatalf("node %d: a new wrong token with the head table full: %d %s, want 429", node+1, status, body)
		}
	}
	tv.srv.byHead.mu.Lock()
	_, tracked := tv.srv.byHead.m[newHeadKey(tv.srv.eng.Load().accountID("hana"), ownerHash(wrong))]
	tv.srv.byHead.mu.Unlock()
	if tracked || headEntriesTracked(tv) != before {
		t.Fatalf("node %d: a refused wrong token got a bucket", node+1)
	}
}

func headEntriesTracked(tv *testVault) int { return tv.srv.byHead.size() }

// size is the number of buckets s tracks.
func (s *limiterSet[K]) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// TestRateBucketsPruned: the janitor's sweep (expire) drops the buckets
// that refilled, of every limit, head buckets among them, long before a
// table fills (which also prunes, so only a sweep shows this).
func TestRateBucketsPruned(t *testing.T) {
	clock := newTestClock()
	tv := startVault(t, t.TempDir(), func(c *ServerConfig) {
		c.HeadRate, c.HeadBurst = 1, 60
		c.now = clock.now
	})
	c := tv.client()
	ctx := context.Background()
	key := newKey(t)
	if err := reg(c, ctx, "ivan", []byte("pw"), key); err != nil {
		t.Fatal(err)
	}
	h := handleOf("ivan")
	if _, err := c.Head(ctx, "ivan", key, h); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		status, body := rawPost(t, tv, tv.url+vault.PathHead, vault.HeadReq{Account: "ivan", OwnerToken: vault.OwnerToken(newKey(t), "ivan"), Handle: h[:]})
		if status != http.StatusForbidden {
			t.Fatalf("a wrong token: %d %s", status, body)
		}
	}
	s := tv.srv
	s.expire(ctx, clock.now())
	if n := headEntriesTracked(tv); n != 4 {
		t.Fatalf("%d head buckets before they refilled, want 4 (the owner's, three strangers')", n)
	}
	// Burst 60 at 1/s: full again after 60 s. Account burst 1000 at
	// 1000/s and address burst 100000 at 100000/s: after a second.
	clock.advance(61 * time.Second)
	s.expire(ctx, clock.now())
	for name, n := range map[string]int{"head": headEntriesTracked(tv), "account": s.byAcct.size(), "address": s.byAddr.size()} {
		if n != 0 {
			t.Errorf("%d %s buckets left after they refilled and the sweep ran, want none", n, name)
		}
	}
}
