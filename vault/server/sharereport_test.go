package server

import (
	"context"
	"strings"
	"testing"
)

// TestMembershipWarningCountsOlderAccounts: replacing node 3 by node 4
// as docs/vault.md "Membership" says warns, at each step, how many
// accounts keep their shares on the old nodes and which of those must
// stay; an account registered after the change is not counted.
func TestMembershipWarningCountsOlderAccounts(t *testing.T) {
	tc := startCluster(t, 3, nil)
	ctx := context.Background()
	for _, a := range []string{"alice", "bob"} {
		if err := reg(tc.client(), ctx, a, []byte("pw"), newKey(t)); err != nil {
			t.Fatal(err)
		}
	}
	tc.syncAll()
	tc.stop(2)
	tc.waitLeader(true)
	remove := MembersRequest{Op: "remove", ID: "3"}
	ms, err := ClusterMembers(ctx, tc.admin(0), remove)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ClusterShares(ctx, tc.admin(0))
	if err != nil {
		t.Fatal(err)
	}
	w := MembershipWarning(rep, remove, ms)
	t.Logf("remove 3:\n%s", w)
	for _, want := range []string{"node 3 held a key share of 2 accounts", "shares on nodes 1, 2 and 3, a login needs 2", "nodes 1 and 2 must all stay up"} {
		if !strings.Contains(w, want) {
			t.Errorf("the warning after removing node 3 does not say %q", want)
		}
	}
	four := tc.join(0)
	tc.syncAll()
	if err := reg(tc.client(0, 1, four), ctx, "carol", []byte("pw"), newKey(t)); err != nil {
		t.Fatal(err)
	}
	tc.syncAll()
	ms, err = ClusterMembers(ctx, tc.admin(1), MembersRequest{Op: "list"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err = ClusterShares(ctx, tc.admin(four))
	if err != nil {
		t.Fatal(err)
	}
	w = MembershipWarning(rep, MembersRequest{Op: "add", ID: "4"}, ms)
	t.Logf("add 4:\n%s", w)
	for _, want := range []string{"node 4 holds no key share of the 2 accounts registered before it joined", "nodes 1 and 2 must all stay up", "set-password"} {
		if !strings.Contains(w, want) {
			t.Errorf("the warning after adding node 4 does not say %q", want)
		}
	}
	// carol's shares are on 1, 2 and 4: removing 4 concerns her alone.
	if w := MembershipWarning(rep, MembersRequest{Op: "remove", ID: "4"}, ms[:2]); !strings.Contains(w, "node 4 held a key share of 1 account;") {
		t.Errorf("removing node 4 would concern carol alone:\n%s", w)
	}
}

// TestMembershipWarningCases: the threshold arithmetic of the warning.
func TestMembershipWarningCases(t *testing.T) {
	members := func(ids ...string) []Member {
		var out []Member
		for _, id := range ids {
			out = append(out, Member{ID: id})
		}
		return out
	}
	rep := ShareReport{Groups: []ShareGroup{{Holders: []string{"1", "2", "3", "4", "5"}, T: 3, Accounts: 7}}, Legacy: 2}
	for _, tc := range []struct {
		req     MembersRequest
		members []Member
		want    string
	}{
		{MembersRequest{Op: "add", ID: "6"}, members("1", "2", "3", "4", "5", "6"), "3 of nodes 1, 2, 3, 4 and 5 must stay up (2 may be down or removed)"},
		{MembersRequest{Op: "remove", ID: "5"}, members("1", "2", "3", "4"), "3 of nodes 1, 2, 3 and 4 must stay up (1 may be down or removed)"},
		{MembersRequest{Op: "remove", ID: "3"}, members("1", "2"), "only nodes 1 and 2 are still members: the password no longer opens the key"},
		{MembersRequest{Op: "list"}, members("1"), ""},
		{MembersRequest{Op: "remove", ID: "9"}, members("1", "2", "3", "4", "5"), ""},
	} {
		w := MembershipWarning(rep, tc.req, tc.members)
		if tc.want == "" && w != "" || !strings.Contains(w, tc.want) {
			t.Errorf("%s %s: %q, want it to say %q", tc.req.Op, tc.req.ID, w, tc.want)
		}
	}
}
