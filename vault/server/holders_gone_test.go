package server

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/vault"
)

// holdersGoneCluster: alice's key shares are on nodes 1, 2 and 3 (two
// needed). Nodes 3 and then 2 are replaced by nodes 4 and 5: only node 1
// of her share holders is still a member, and no wait brings the others
// back. It returns the cluster, whose running nodes are 1, 4 and 5
// (indexes 0, 3 and 4).
func holdersGoneCluster(t *testing.T) *testCluster {
	t.Helper()
	tc := startCluster(t, 3, nil)
	ctx := context.Background()
	if err := reg(tc.client(), ctx, "alice", []byte("right"), newKey(t)); err != nil {
		t.Fatal(err)
	}
	tc.syncAll()
	for _, gone := range []int{2, 1} {
		tc.stop(gone)
		tc.waitLeader(true)
		id := tc.peers[gone].ID
		if _, err := ClusterMembers(ctx, tc.admin(0), MembersRequest{Op: "remove", ID: id}); err != nil {
			t.Fatalf("members remove %s: %v", id, err)
		}
		tc.join(0)
		tc.waitLeader(true)
		tc.syncAll()
	}
	return tc
}

// TestHoldersGoneIsNotTryAgain: in holdersGoneCluster, alice's login is
// refused before counting, and the refusal is not "the vault is out of
// reach" (the CLI's exit 5, a daemon's retry forever): it says the vault
// can no longer open the key, to restore with the recovery key and set
// the password again.
func TestHoldersGoneIsNotTryAgain(t *testing.T) {
	tc := holdersGoneCluster(t)
	_, err := rec(tc.client(0, 3, 4), context.Background(), "alice", []byte("right"))
	if err == nil {
		t.Fatal("the login succeeded with one of alice's two shares")
	}
	t.Logf("the error: %v", err)
	if !errors.Is(err, vault.ErrHoldersGone) {
		t.Error("the error does not match vault.ErrHoldersGone")
	}
	if errors.Is(err, vault.ErrUnreachable) || errors.Is(err, vault.ErrAttemptSpent) {
		t.Errorf("a refusal no wait can help is a vault out of reach (unreachable %v, spent %v)", errors.Is(err, vault.ErrUnreachable), errors.Is(err, vault.ErrAttemptSpent))
	}
	msg := strings.ToLower(err.Error())
	for _, want := range []string{"can no longer open", "restore with the recovery key", "set-password"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not say %q", want)
		}
	}
	if strings.Contains(msg, "try again") {
		t.Error("the error says to try again")
	}
}

// TestHoldersGoneOnlyFromTheLeader: "gone" stops a daemon for good, so
// only a node whose view is current says it: the leader, once a quorum
// confirmed it leads and it applied everything committed. A follower's
// replica may be behind (a password set again since, a membership
// change): in holdersGoneCluster, asked alone, it refuses only for now
// (few_share_holders: try again), while the leader says gone, and a
// client that asks the follower first and then the leader ends with the
// leader's "gone".
func TestHoldersGoneOnlyFromTheLeader(t *testing.T) {
	tc := holdersGoneCluster(t)
	ctx := context.Background()
	running := []int{0, 3, 4}
	// On a loaded machine the leader may change under a request: each
	// check is made again, with the roles read again, when the term moved
	// while it ran.
	term := func() uint64 { return tc.nodes[tc.leader()].srv.node.raft.CurrentTerm() }
	roles := func() (leader, follower int) {
		leader = tc.leader()
		i := slices.IndexFunc(running, func(n int) bool { return n != leader })
		return leader, running[i]
	}
	ask := func(what string, pick func(l, f int) []int, check func(error) string) {
		t.Helper()
		var why string
		for range 3 {
			before := term()
			l, f := roles()
			nodes := pick(l, f)
			_, err := rec(tc.client(nodes...), ctx, "alice", []byte("right"))
			t.Logf("%s (leader node %d, follower node %d): %v", what, l+1, f+1, err)
			if why = check(err); why == "" {
				return
			}
			if term() == before {
				break
			}
		}
		t.Errorf("%s: %s", what, why)
	}
	ask("the follower alone", func(_, f int) []int { return []int{f} }, func(err error) string {
		switch {
		case err == nil:
			return "the login succeeded with one of alice's two shares"
		case errors.Is(err, vault.ErrHoldersGone):
			return "a follower, whose replica may be behind, says the share holders are gone for good"
		case !errors.Is(err, vault.ErrFewShareHolders) || !errors.Is(err, vault.ErrUnreachable):
			return "not the refusal that says to try again (vault.ErrFewShareHolders)"
		case errors.Is(err, vault.ErrAttemptSpent):
			return "the refusal spent an attempt"
		case !strings.Contains(strings.ToLower(err.Error()), "try again"):
			return "the refusal does not say to try again"
		}
		return ""
	})
	gone := func(err error) string {
		switch {
		case err == nil:
			return "the login succeeded with one of alice's two shares"
		case !errors.Is(err, vault.ErrHoldersGone):
			return "not vault.ErrHoldersGone"
		case errors.Is(err, vault.ErrUnreachable):
			return "gone, and also a vault out of reach"
		}
		return ""
	}
	ask("the leader alone", func(l, _ int) []int { return []int{l} }, gone)
	ask("the follower, then the leader", func(l, f int) []int { return []int{f, l} }, gone)
}
