package server

import (
	"context"
	"testing"
)

// A request that reaches a follower while the cluster elects a new leader
// waits for the election instead of failing: nothing had been proposed, so
// asking the new leader is safe. The followers still name the dead leader
// right after it stops, so the first forward is refused at the dial.
func TestClusterRequestDuringElectionWaitsForLeader(t *testing.T) {
	tc := startCluster(t, 3, nil)
	ctx := context.Background()
	key := newKey(t)
	if err := reg(tc.client(), ctx, "carol", []byte("pw"), key); err != nil {
		t.Fatalf("Register: %v", err)
	}
	l := tc.leader()
	follower := (l + 1) % 3
	tc.stop(l)
	got, err := rec(tc.client(follower), ctx, "carol", []byte("pw"))
	if err != nil {
		t.Fatalf("recovering through a follower while the leader is being replaced: %v", err)
	}
	if got != key {
		t.Fatal("recovered a different key")
	}
}
