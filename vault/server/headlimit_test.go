package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/chatsafe/chatsafe/vault"
	"github.com/chatsafe/chatsafe/vault/client"
)

// testClock is a clock the test moves by hand, so that the rate limits
// can be run at a daemon's pace (a cycle every few seconds) without the
// test waiting for it.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Now()} }

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// defaultLimits undoes startVault's generous rate limits: every limit at
// its production default, on clock.
func defaultLimits(clock *testClock) func(*ServerConfig) {
	return func(c *ServerConfig) {
		c.AddressRate, c.AddressBurst = 0, 0
		c.AccountRate, c.AccountBurst = 0, 0
		c.HeadRate, c.HeadBurst = 0, 0
		c.now = clock.now
	}
}

// TestStrangerCannotStopHead: whoever knows an account's name (and its
// handle, which lies on the remote) sends logins and head
// requests with a wrong owner token, as fast as the per-address limit
// lets one address, while the owner's daemon commits a delta every 3 s
// and a command reads the head every cycle. With the default limits,
// every one of the owner's requests is answered: the per-account limit
// that bounds guessing must not decide whether the owner's backups commit.
func TestStrangerCannotStopHead(t *testing.T) {
	for _, nodes := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d nodes", nodes), func(t *testing.T) {
			clock := newTestClock()
			var owner *client.Client
			var targets []*testVault
			if nodes == 1 {
				tv := startVault(t, t.TempDir(), defaultLimits(clock))
				owner, targets = tv.client(), []*testVault{tv}
			} else {
				tc := startCluster(t, nodes, defaultLimits(clock))
				owner, targets = tc.client(), tc.nodes
			}
			ctx := context.Background()
			key := newKey(t)
			if err := reg(owner, ctx, "alice", []byte("pw"), key); err != nil {
				t.Fatal(err)
			}
			h := handleOf("alice")
			wrong := vault.OwnerToken(newKey(t), "alice")
			loginLimited := 0
			var prev vault.HeadRecord
			for seq := uint64(1); seq <= 60; seq++ {
				clock.advance(3 * time.Second)
				// 5 requests per node per cycle, 7 with the owner's: under
				// the address limit (5/s, burst 20) of the one address.
				for _, tv := range targets {
					for range 2 {
						// Without the handle: it spends the shadow row's
						// guesses (then gets erased), never the owner's.
						status, body := rawPost(t, tv, tv.url+vault.PathLoginStart, vault.LoginStartReq{Account: "alice", KE1: newKE1(t, "guess")})
						switch {
						case status == http.StatusTooManyRequests && strings.Contains(string(body), vault.CodeRateLimited):
							loginLimited++
						case status == http.StatusOK || status == http.StatusGone:
						default:
							t.Fatalf("cycle %d: a stranger's login: %d %s", seq, status, body)
						}
					}
					for _, next := range []*vault.HeadRecord{nil, nil, ptr(headAt(seq, 9))} {
						status, body := rawPost(t, tv, tv.url+vault.PathHead, vault.HeadReq{Account: "alice", OwnerToken: wrong, Handle: h[:], Next: next})
						if status != http.StatusForbidden && status != http.StatusTooManyRequests {
							t.Fatalf("cycle %d: a head request with a wrong owner token: %d %s", seq, status, body)
						}
					}
				}
				got, err := owner.Head(ctx, "alice", key, h)
				if err != nil {
					t.Fatalf("cycle %d: the owner's head read: %v", seq, err)
				}
				if !sameHead(got, prev) {
					t.Fatalf("cycle %d: the owner reads %+v, want %+v", seq, got, prev)
				}
				next := headAt(seq, 1)
				if err := owner.AdvanceHead(ctx, "alice", key, h, prev, next); err != nil {
					t.Fatalf("cycle %d: the owner's advance: %v", seq, err)
				}
				prev = next
			}
			if loginLimited == 0 {
				t.Fatal("the stranger's logins were never rate limited: the default limits are not in force")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestBusyDaemonHeadNotRefused: a daemon on a busy chat commits a delta
// every quiet period (2 s by default) and reads the head once a cycle; on
// a vault with the default limits, none of 60 such cycles is refused.
func TestBusyDaemonHeadNotRefused(t *testing.T) {
	clock := newTestClock()
	tv := startVault(t, t.TempDir(), defaultLimits(clock))
	c := tv.client()
	ctx := context.Background()
	key := newKey(t)
	if err := reg(c, ctx, "bob", []byte("pw"), key); err != nil {
		t.Fatal(err)
	}
	h := handleOf("bob")
	var prev vault.HeadRecord
	for seq := uint64(1); seq <= 60; seq++ {
		clock.advance(2 * time.Second)
		if _, err := c.Head(ctx, "bob", key, h); err != nil {
			t.Fatalf("cycle %d: %v", seq, err)
		}
		next := headAt(seq, 1)
		if err := c.AdvanceHead(ctx, "bob", key, h, prev, next); err != nil {
			t.Fatalf("cycle %d: %v", seq, err)
		}
		prev = next
	}
}

// TestWrongOwnerHeadWritesNoLogEntry: an advance whose owner proof does
// not match (a wrong owner token, an unknown account), sent to any node of
// a cluster, is refused without a replicated log entry: a stranger's
// requests must not cost every node an append and an fsync. The owner's
// advances still are log entries, and a key rotation committed on one
// node is honoured at once by the others.
func TestWrongOwnerHeadWritesNoLogEntry(t *testing.T) {
	tc := startCluster(t, 3, nil)
	ctx := context.Background()
	key := newKey(t)
	if err := reg(tc.client(), ctx, "carl", []byte("pw"), key); err != nil {
		t.Fatal(err)
	}
	h := handleOf("carl")
	if err := tc.client().AdvanceHead(ctx, "carl", key, h, vault.HeadRecord{}, headAt(1, 1)); err != nil {
		t.Fatal(err)
	}
	leader := tc.nodes[tc.leader()].srv.node
	before := leader.raft.LastIndex()
	wrong := vault.OwnerToken(newKey(t), "carl")
	for _, tv := range tc.nodes {
		for range 5 {
			status, body := rawPost(t, tv, tv.url+vault.PathHead, vault.HeadReq{Account: "carl", OwnerToken: wrong, Handle: h[:], Prev: ptr(headAt(1, 1)), Next: ptr(headAt(2, 9))})
			if status != http.StatusForbidden {
				t.Fatalf("an advance with a wrong owner token: %d %s", status, body)
			}
		}
		status, body := rawPost(t, tv, tv.url+vault.PathHead, vault.HeadReq{Account: "nobody", OwnerToken: wrong, Next: ptr(headAt(2, 9))})
		if status != http.StatusNotFound {
			t.Fatalf("an advance of an unknown account: %d %s", status, body)
		}
	}
	if n := headEntries(t, leader, before); n != 0 {
		t.Fatalf("18 refused advances wrote %d log entries, want none", n)
	}
	if err := tc.client().AdvanceHead(ctx, "carl", key, h, headAt(1, 1), headAt(2, 1)); err != nil {
		t.Fatal(err)
	}
	if n := headEntries(t, leader, before); n != 1 {
		t.Fatalf("the owner's advance: %d log entries, want 1 (is the count broken?)", n)
	}
	// Rotated through node 1, the new key advances through node 3 at once
	// (its own copy may not know the new owner yet) and the old one no
	// longer does through node 2.
	next := newKey(t)
	nh, err := tc.client(0).Reregister(ctx, "carl", []byte("pw"), key, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := tc.client(2, 0, 1).AdvanceHead(ctx, "carl", next, nh, headAt(2, 1), headAt(3, 1)); err != nil {
		t.Fatalf("the rotated key's advance through another node: %v", err)
	}
	if err := tc.client(1, 0, 2).AdvanceHead(ctx, "carl", key, nh, headAt(3, 1), headAt(4, 1)); err == nil {
		t.Fatal("the old key advanced the head after the rotation")
	}
}

// headEntries counts the OpHead commands in n's raft log after index from.
func headEntries(t *testing.T, n *raftNode, from uint64) int {
	t.Helper()
	if err := n.raft.Barrier(5 * time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	count := 0
	for i := from + 1; i <= n.raft.LastIndex(); i++ {
		var l raft.Log
		if err := n.logStore.GetLog(i, &l); err != nil {
			t.Fatal(err)
		}
		var cmd Command
		if l.Type == raft.LogCommand && json.Unmarshal(l.Data, &cmd) == nil && cmd.Op == OpHead {
			count++
		}
	}
	return count
}

// TestHeadLimit: head requests have a limit of their own, per account and
// owner proof. The owner past its burst is refused (and the refusal is
// audited without the token), a stranger's wrong tokens fill only their
// own buckets, and head requests do not spend the login budget.
func TestHeadLimit(t *testing.T) {
	clock := newTestClock()
	tv := startVault(t, t.TempDir(), func(c *ServerConfig) {
		c.AccountRate, c.AccountBurst = 0.001, 2 // a registration, a login
		c.HeadRate, c.HeadBurst = 1, 5
		c.now = clock.now
	})
	c := tv.client()
	ctx := context.Background()
	key := newKey(t)
	if err := reg(c, ctx, "fay", []byte("pw"), key); err != nil {
		t.Fatal(err)
	}
	h := handleOf("fay")
	for i := range 5 {
		if _, err := c.Head(ctx, "fay", key, h); err != nil {
			t.Fatalf("read %d: %v", i+1, err)
		}
	}
	if _, err := c.Head(ctx, "fay", key, h); !errors.Is(err, vault.ErrRateLimited) {
		t.Fatalf("a 6th read within the burst of 5: %v", err)
	}
	clock.advance(5 * time.Second)
	// Strangers, each with a token of their own, past their bursts.
	strangers := [][]byte{vault.OwnerToken(newKey(t), "fay"), vault.OwnerToken(newKey(t), "fay")}
	for _, tok := range strangers {
		for i := range 7 {
			status, body := rawPost(t, tv, tv.url+vault.PathHead, vault.HeadReq{Account: "fay", OwnerToken: tok, Handle: h[:]})
			want := http.StatusForbidden
			if i >= 5 {
				want = http.StatusTooManyRequests
			}
			if status != want {
				t.Fatalf("a stranger's request %d: %d %s, want %d", i+1, status, body, want)
			}
		}
	}
	var prev vault.HeadRecord
	for seq := uint64(1); seq <= 5; seq++ {
		if err := c.AdvanceHead(ctx, "fay", key, h, prev, headAt(seq, 1)); err != nil {
			t.Fatalf("the owner's advance %d after the strangers': %v", seq, err)
		}
		prev = headAt(seq, 1)
	}
	if _, err := rec(c, ctx, "fay", []byte("pw")); err != nil {
		t.Fatalf("a login after 10 of the owner's head requests: %v", err)
	}
	tv.Stop()

	limited := 0
	for _, e := range tv.logs.FilterField(zapString("event", "rate_limited")).All() {
		if e.ContextMap()["by"] == "head" && e.ContextMap()["account"] == "fay" {
			limited++
		}
	}
	if limited != 5 {
		t.Fatalf("%d head refusals audited, want 5 (the owner's one, the strangers' two each)", limited)
	}
	var all bytes.Buffer
	for _, e := range tv.logs.All() {
		all.WriteString(e.Message)
		enc, _ := json.Marshal(e.ContextMap())
		all.Write(enc)
	}
	for _, tok := range append(strangers, vault.OwnerToken(key, "fay")) {
		oh := ownerHash(tok)
		for _, form := range [][]byte{tok, []byte(hex.EncodeToString(tok)), []byte(base64.StdEncoding.EncodeToString(tok)), oh, []byte(hex.EncodeToString(oh)), []byte(base64.StdEncoding.EncodeToString(oh))} {
			if bytes.Contains(all.Bytes(), form) {
				t.Fatal("the log holds an owner token or its hash")
			}
		}
	}
}
