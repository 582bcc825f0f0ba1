package server

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/chatsafe/chatsafe/vault"
	"github.com/chatsafe/chatsafe/vault/client"
)

func TestClusterRecoverAfterLeaderDies(t *testing.T) {
	tc := startCluster(t, 3, nil)
	ctx := context.Background()
	key := newKey(t)
	if err := reg(tc.client(), ctx, "alice", []byte("pw"), key); err != nil {
		t.Fatalf("Register: %v", err)
	}
	l := tc.leader()
	tc.stop(l)
	tc.waitLeader(true)
	if nl := tc.leader(); nl == l {
		t.Fatalf("stopped node %d is still leader", l+1)
	}
	// The client lists every node, the dead one included, and fails over.
	got, err := rec(tc.client(), ctx, "alice", []byte("pw"))
	if err != nil {
		t.Fatalf("Recover through the survivors: %v", err)
	}
	if got != key {
		t.Fatal("recovered a different key")
	}
	// A wrong password is still counted by the survivors.
	_, err = rec(tc.client(), ctx, "alice", []byte("nope"))
	if left := wrongLeft(t, err); left != DefaultMaxAttempts-1 {
		t.Fatalf("attempts left %d after the success reset, want %d", left, DefaultMaxAttempts-1)
	}
}

func TestClusterAttemptsCountedAcrossNodes(t *testing.T) {
	tc := startCluster(t, 3, nil)
	ctx := context.Background()
	key := newKey(t)
	if err := reg(tc.client(), ctx, "bob", []byte("right"), key); err != nil {
		t.Fatalf("Register: %v", err)
	}
	per := []*client.Client{tc.client(0), tc.client(1), tc.client(2)}

	// Nine wrong passwords, one node after the other: one shared counter.
	for k := range DefaultMaxAttempts - 1 {
		_, err := rec(per[k%3], ctx, "bob", []byte("wrong"))
		if left := wrongLeft(t, err); left != DefaultMaxAttempts-1-k {
			t.Fatalf("attempt %d on node %d: %d left, want %d", k+1, k%3+1, left, DefaultMaxAttempts-1-k)
		}
	}
	got, err := rec(per[2], ctx, "bob", []byte("right"))
	if err != nil || got != key {
		t.Fatalf("the right password after 9 wrong ones: %v", err)
	}

	// Ten wrong passwords at once, spread over the nodes: each is counted
	// exactly once, the last one erases, and nothing gets an 11th guess.
	// A login whose attempt was counted but whose second key share was
	// not yet evaluated when another login's end erased the record (slow
	// under load) can only learn that the record is erased.
	marks := make([]int, len(tc.nodes))
	for i, tv := range tc.nodes {
		marks[i] = tv.logs.Len()
	}
	var mu sync.Mutex
	var lefts []int
	erased := 0
	var wg sync.WaitGroup
	for k := range DefaultMaxAttempts {
		wg.Go(func() {
			_, err := rec(per[k%3], ctx, "bob", []byte("wrong"))
			var wp vault.WrongPasswordError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.As(err, &wp):
				lefts = append(lefts, wp.Left)
			case errors.Is(err, vault.ErrErased):
				erased++
			default:
				t.Errorf("concurrent wrong attempt: %v", err)
			}
		})
	}
	wg.Wait()
	slices.Sort(lefts)
	t.Logf("concurrent attempts: left %v, %d overtaken by the erasure", lefts, erased)
	if len(lefts)+erased != DefaultMaxAttempts || len(slices.Compact(slices.Clone(lefts))) != len(lefts) ||
		(len(lefts) > 0 && (lefts[0] < 0 || lefts[len(lefts)-1] > DefaultMaxAttempts-1)) {
		t.Fatalf("attempts left seen by the 10 concurrent attempts: %v and %d erased, want distinct values of 0 to 9, one per attempt", lefts, erased)
	}
	// The nodes' audit: every attempt counted once at begin (left 9 to 0),
	// none refused for an erased record (what a double count would cause).
	var counted []int
	for i, tv := range tc.nodes {
		for _, e := range tv.logs.All()[marks[i]:] {
			switch f := e.ContextMap(); f["event"] {
			case "attempt":
				counted = append(counted, int(f["attempts_left"].(int64)))
			case "attempt_erased":
				t.Errorf("node %d refused a concurrent attempt for an erased record", i+1)
			}
		}
	}
	slices.Sort(counted)
	if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(counted, want) {
		t.Fatalf("attempts left counted by the nodes for the 10 concurrent attempts: %v, want %v", counted, want)
	}
	for i, c := range per {
		if _, err := rec(c, ctx, "bob", []byte("right")); !errors.Is(err, vault.ErrErased) {
			t.Fatalf("right password on node %d after the limit: %v, want vault.ErrErased", i+1, err)
		}
	}
	tc.syncAll()
	for i, tv := range tc.nodes {
		id := tv.srv.eng.Load().accountID("bob")
		st, found, err := tv.srv.store.view(id)
		if err != nil || !found {
			t.Fatalf("node %d: record: found=%v err=%v", i+1, found, err)
		}
		if !st.Erased || st.Sealed != nil {
			t.Fatalf("node %d: record not erased: erased=%v sealed=%d bytes", i+1, st.Erased, len(st.Sealed))
		}
		// Each of the ten counted once, the erased answers too.
		if st.Attempts != DefaultMaxAttempts {
			t.Fatalf("node %d: %d attempts counted, want %d", i+1, st.Attempts, DefaultMaxAttempts)
		}
	}
}

func TestClusterRefusesWithoutQuorum(t *testing.T) {
	tc := startCluster(t, 3, nil)
	ctx := context.Background()
	key := newKey(t)
	if err := reg(tc.client(), ctx, "carol", []byte("right"), key); err != nil {
		t.Fatalf("Register: %v", err)
	}
	for k := range 2 {
		_, err := rec(tc.client(), ctx, "carol", []byte("wrong"))
		if left := wrongLeft(t, err); left != DefaultMaxAttempts-1-k {
			t.Fatalf("wrong attempt %d: %d left", k+1, left)
		}
	}
	tc.syncAll()
	// Stop two of three nodes, the leader among them.
	l := tc.leader()
	other := (l + 1) % 3
	survivor := 3 - l - other
	tc.stop(l)
	tc.stop(other)
	tc.waitLeader(false)

	c := tc.client(survivor)
	for _, pw := range []string{"wrong", "right", "wrong"} {
		if _, err := rec(c, ctx, "carol", []byte(pw)); !errors.Is(err, vault.ErrUnreachable) {
			t.Fatalf("attempt without a quorum: %v, want vault.ErrUnreachable", err)
		}
	}
	if err := reg(c, ctx, "dave", []byte("pw"), newKey(t)); !errors.Is(err, vault.ErrUnreachable) {
		t.Fatalf("register without a quorum: %v, want vault.ErrUnreachable", err)
	}
	sv := tc.nodes[survivor]
	st, _, err := sv.srv.store.view(sv.srv.eng.Load().accountID("carol"))
	if err != nil || st.Attempts != 2 {
		t.Fatalf("survivor counted attempts without a quorum: %d (err %v), want 2", st.Attempts, err)
	}

	tc.restart(l)
	tc.restart(other)
	tc.waitReady()
	tc.waitLeader(true)
	_, err = rec(tc.client(), ctx, "carol", []byte("wrong"))
	if left := wrongLeft(t, err); left != DefaultMaxAttempts-3 {
		t.Fatalf("after the restart: %d left, want %d (nothing counted while refused)", left, DefaultMaxAttempts-3)
	}
	got, err := rec(tc.client(l), ctx, "carol", []byte("right"))
	if err != nil || got != key {
		t.Fatalf("recover on a restarted node: %v", err)
	}
}
