package server

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/vault"
)

// TestHoldersGoneIsNotTryAgain: alice's key shares are on nodes 1, 2 and
// 3 (two needed). Nodes 3 and then 2 are replaced by nodes 4 and 5: only
// node 1 of her share holders is still a member, and no wait brings the
// others back. Her login is refused before counting, and the refusal is
// not "the vault is out of reach" (the CLI's exit 5, a daemon's retry
// forever): it says the vault can no longer open the key, to restore with
// the recovery key and set the password again.
func TestHoldersGoneIsNotTryAgain(t *testing.T) {
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
	_, err := rec(tc.client(0, 3, 4), ctx, "alice", []byte("right"))
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
