package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/chatsafe/chatsafe/vault"
	"github.com/chatsafe/chatsafe/vault/client"
)

// The limit-th attempt's answer lost to a timeout (docs/vault.md,
// "Attempt counting"): the node made KE2, the answer never came, and the
// client gave up on it. The orphaned session ends as failed when it
// expires, and at the limit that erases the key, unless the client's
// retry (the same element on the next node: not counted) succeeded first.

// stalledAnswers stalls a node's answers to one path while armed: the
// handler runs in full (login/ke1 makes KE2 and its session), then the
// answer waits until the client gives up on it and is never sent, as on a
// path that stalls rather than breaks (no reset the client could act on).
// With late set the handler runs once the client gave up instead: a node
// merely slower than the client waits, which does the work all the same.
type stalledAnswers struct {
	path   string
	late   bool
	armed  atomic.Bool
	once   sync.Once
	gaveUp chan struct{} // closed once the client gave up on a stalled answer (late: and the handler ran)
}

func (s *stalledAnswers) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != s.path || !s.armed.Load() {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body) // before the client cancels the stream
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if !s.late {
			next.ServeHTTP(httptest.NewRecorder(), r)
		}
		// The request's context ends when the client cancels the stream
		// (its timeout) or the server shuts down.
		<-r.Context().Done()
		if s.late {
			next.ServeHTTP(httptest.NewRecorder(), r)
		}
		s.once.Do(func() { close(s.gaveUp) })
		panic(http.ErrAbortHandler)
	})
}

// slowAnswers makes a node take lag before it handles paths: a loaded
// node whose raft commits (a begin's count, a finish's reset) are slow.
// The lag stands for work the request takes, not for an order of events.
type slowAnswers struct {
	paths []string
	lag   time.Duration
}

func (s slowAnswers) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slices.Contains(s.paths, r.URL.Path) {
			t := time.NewTimer(s.lag)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// scaledClient is a client of every node of tc whose timeouts relate to
// ttl as the defaults do to the default session_ttl.
func scaledClient(t *testing.T, tc *testCluster, ttl time.Duration) *client.Client {
	t.Helper()
	scale := func(d time.Duration) time.Duration {
		return time.Duration(float64(d) * float64(ttl) / float64(defaultSessionTTL))
	}
	c, err := client.New(client.Options{URLs: tc.urls, CAFile: tc.caFile, KSFParameters: testKSF,
		Timeout: scale(client.DefaultTimeout), LoginStepTimeout: scale(client.DefaultLoginStepTimeout)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tv := range tc.nodes {
		tv.conns = append(tv.conns, c)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// waitFailApplied waits until tv has applied an OpFail for row: a login
// session counted at the limit ended without success (its expiry, an
// abort), whether or not that erased the record.
func waitFailApplied(t *testing.T, tv *testVault, row [32]byte, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	n := tv.srv.node
	next, err := n.logStore.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	for {
		applied := n.fsm.appliedNow()
		for ; next <= applied; next++ {
			var l raft.Log
			if err := n.logStore.GetLog(next, &l); err != nil {
				if errors.Is(err, raft.ErrLogNotFound) {
					continue
				}
				t.Fatal(err)
			}
			var cmd Command
			if l.Type == raft.LogCommand && json.Unmarshal(l.Data, &cmd) == nil && cmd.Op == OpFail && cmd.Account == row {
				return
			}
		}
		if err := n.fsm.waitApplied(ctx, applied+1); err != nil {
			t.Fatalf("no failed session applied for the account within %s: %v", within, err)
		}
	}
}

// The last allowed attempt, the right password, and node 1's KE2 stalls
// until the client gives up. The retry on node 2 takes a fifth of
// session_ttl (two slow commits), more than one cleanup period (a
// quarter): it must start early enough to finish before node 1's orphan
// expires. With the client's timeout at session_ttl (before 2026-12-03)
// the retry started as the orphan expired, and node 1's next cleanup
// pass erased the key the right password was fetching.
func TestLastAttemptKE2LostToTimeout(t *testing.T) {
	const ttl = 6 * time.Second
	stall := &stalledAnswers{path: vault.PathLoginKE1, gaveUp: make(chan struct{})}
	slow := slowAnswers{paths: []string{vault.PathLoginBegin, vault.PathLoginFinish}, lag: ttl / 5}
	tc := startCluster(t, 3, func(c *ServerConfig) {
		c.SessionTTL = ttl
		c.wrap = slow.wrap
		if c.Cluster.NodeID == "1" {
			c.wrap = stall.wrap
		}
	})
	c := scaledClient(t, tc, ttl)
	ctx := context.Background()
	key := newKey(t)
	if err := reg(c, ctx, "zoe", []byte("right"), key); err != nil {
		t.Fatalf("Register: %v", err)
	}
	for i := range DefaultMaxAttempts - 1 {
		_, err := rec(c, ctx, "zoe", []byte("wrong"+string(rune('a'+i))))
		if left := wrongLeft(t, err); left != DefaultMaxAttempts-1-i {
			t.Fatalf("wrong password %d: %d attempts left, want %d", i+1, left, DefaultMaxAttempts-1-i)
		}
	}

	stall.armed.Store(true)
	start := time.Now()
	got, err := rec(c, ctx, "zoe", []byte("right"))
	took := time.Since(start)
	select {
	case <-stall.gaveUp:
	default:
		t.Fatalf("node 1's KE2 was not stalled until the client gave up (Recover: %v)", err)
	}
	if err != nil || got != key {
		t.Errorf("the right password at the last attempt, node 1's KE2 stalled: %v after %s (key matches %v)", err, took, got == key)
	}
	row := tc.nodes[0].srv.eng.Load().accountID("zoe")
	waitFailApplied(t, tc.nodes[0], row, 3*ttl)
	if n, erased := rowAttempts(t, tc, "zoe"); n != 0 || erased {
		t.Fatalf("after node 1's orphaned session expired: %d attempts counted, erased %v; want 0, not erased", n, erased)
	}
	if got, err := rec(c, ctx, "zoe", []byte("right")); err != nil || got != key {
		t.Fatalf("the next login: %v (key matches %v)", err, got == key)
	}
}

// A node merely slow: node 1 takes the last attempt's login/finish only
// after the client gave up on it (a slow raft commit), resets the counter
// and releases the key to nobody. The client handles it as an answer
// lost: the same element on node 2, which the vault takes as the attempt
// it counted (a success keeps the row's counted elements), so nothing
// more is counted, nothing is erased, and the key comes from node 2.
func TestLastAttemptSlowFinishIsNotCounted(t *testing.T) {
	const ttl = 6 * time.Second
	stall := &stalledAnswers{path: vault.PathLoginFinish, late: true, gaveUp: make(chan struct{})}
	tc := startCluster(t, 3, func(c *ServerConfig) {
		c.SessionTTL = ttl
		if c.Cluster.NodeID == "1" {
			c.wrap = stall.wrap
		}
	})
	c := scaledClient(t, tc, ttl)
	ctx := context.Background()
	key := newKey(t)
	if err := reg(c, ctx, "yann", []byte("right"), key); err != nil {
		t.Fatalf("Register: %v", err)
	}
	for i := range DefaultMaxAttempts - 1 {
		_, err := rec(c, ctx, "yann", []byte("wrong"+string(rune('a'+i))))
		if left := wrongLeft(t, err); left != DefaultMaxAttempts-1-i {
			t.Fatalf("wrong password %d: %d attempts left, want %d", i+1, left, DefaultMaxAttempts-1-i)
		}
	}
	const counted, again = "vault audit: login attempt counted", "vault audit: a counted login attempt sent again, taken as that attempt"
	var countedBefore [3]int
	for i, tv := range tc.nodes {
		countedBefore[i] = tv.logs.FilterMessage(counted).Len()
	}
	stall.armed.Store(true)
	got, err := rec(c, ctx, "yann", []byte("right"))
	if err != nil || got != key {
		t.Fatalf("the right password at the last attempt, node 1's finish slower than the client waits: %v (key matches %v)", err, got == key)
	}
	<-stall.gaveUp // node 1 took the finish
	const released = "vault audit: login succeeded, attempts reset, key released"
	for i, tv := range tc.nodes[:2] {
		if n := tv.logs.FilterMessage(released).Len(); n != 1 {
			t.Fatalf("node %d released the key %d times, want 1 (node 1 late, node 2 to the retry)", i+1, n)
		}
	}
	if n, erased := rowAttempts(t, tc, "yann"); n != 0 || erased {
		t.Fatalf("%d attempts counted, erased %v; want 0, not erased", n, erased)
	}
	// The retry was the same attempt: node 2 took it as a replay, and no
	// node counted a new one after node 1's (a fresh element would have
	// been counted, and node 1's late success would hide it in the row).
	if n := tc.nodes[1].logs.FilterMessage(again).Len(); n != 1 {
		t.Fatalf("node 2 took %d replays of the counted attempt, want 1", n)
	}
	var newCounts int
	for i, tv := range tc.nodes {
		newCounts += tv.logs.FilterMessage(counted).Len() - countedBefore[i]
	}
	if newCounts != 1 {
		t.Fatalf("%d attempts counted for the right password, want 1 (the begin on node 1)", newCounts)
	}
}
