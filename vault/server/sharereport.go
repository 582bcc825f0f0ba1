package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// An account's key shares and threshold are fixed when its password is
// set (docs/vault.md, "Threshold OPRF"): a node added later holds none,
// and a node removed takes its share away. `vault members add|remove`
// reads a ShareReport after the change and warns with MembershipWarning.

// ShareGroup is how many accounts keep their key shares on one set of
// nodes, with one threshold.
type ShareGroup struct {
	Holders  []string // node ids, sorted
	T        int
	Accounts int
}

// ShareReport counts the accounts of a node's replica by the nodes that
// hold their key shares.
type ShareReport struct {
	Groups []ShareGroup
	// Legacy counts the accounts registered before the threshold OPRF:
	// they hold no shares, and membership does not limit them.
	Legacy int
}

// SharesArgs asks a node for its ShareReport (RPC Vault.Shares).
type SharesArgs struct{}

// Shares answers an administrator's request for the share report, from
// this node's replica.
func (s *rpcService) Shares(_ SharesArgs, rep *ShareReport) error {
	f := s.n.reportFn.Load()
	if f == nil {
		return errNoQuorum
	}
	r, err := (*f)()
	if err != nil {
		return err
	}
	*rep = r
	return nil
}

// shareReport reads every registered account's share holders (each
// account's sealed secrets are opened; the shares in them stay sealed to
// their nodes).
func (s *Server) shareReport() (ShareReport, error) {
	eng := s.eng.Load()
	if eng == nil || s.node == nil {
		return ShareReport{}, errNoQuorum
	}
	groups := map[string]*ShareGroup{}
	var rep ShareReport
	err := s.node.st.eachAccount(func(id [32]byte, st accountState) error {
		if st.Ghost || st.Erased || len(st.Sealed) == 0 {
			return nil
		}
		sec, err := eng.openSecrets(s.mk, id, st.Sealed)
		if err != nil {
			return fmt.Errorf("opening an account's secrets: %w", err)
		}
		defer clearSecrets(sec)
		if sec.Threshold == 0 {
			rep.Legacy++
			return nil
		}
		var holders []string
		for _, sh := range sec.Shares {
			holders = append(holders, sh.Node)
		}
		slices.Sort(holders)
		k := fmt.Sprint(sec.Threshold, holders)
		if groups[k] == nil {
			groups[k] = &ShareGroup{Holders: holders, T: sec.Threshold}
		}
		groups[k].Accounts++
		return nil
	})
	if err != nil {
		return ShareReport{}, err
	}
	for _, g := range groups {
		rep.Groups = append(rep.Groups, *g)
	}
	slices.SortFunc(rep.Groups, func(a, b ShareGroup) int { return strings.Compare(fmt.Sprint(a.Holders), fmt.Sprint(b.Holders)) })
	return rep, nil
}

// ClusterShares asks a cluster node (opts, as for ClusterMembers) how the
// accounts' key shares lie over the nodes.
func ClusterShares(ctx context.Context, opts AdminOptions) (ShareReport, error) {
	var rep ShareReport
	err := adminCall(ctx, opts, "Vault.Shares", SharesArgs{}, &rep)
	if err != nil {
		return rep, fmt.Errorf("counting the accounts' key shares: %w", err)
	}
	return rep, nil
}

// MembershipWarning says, after req changed the membership to members,
// which accounts hold no share on an added node or lost one with a
// removed node, and how many of their share holders must stay for a
// password login; "" when no account is concerned.
func MembershipWarning(rep ShareReport, req MembersRequest, members []Member) string {
	var concerned []ShareGroup
	n := 0
	for _, g := range rep.Groups {
		if slices.Contains(g.Holders, req.ID) == (req.Op == "remove") {
			concerned = append(concerned, g)
			n += g.Accounts
		}
	}
	if n == 0 || req.Op != "add" && req.Op != "remove" {
		return ""
	}
	var b strings.Builder
	if req.Op == "add" {
		fmt.Fprintf(&b, "warning: node %s holds no key share of the %s registered before it joined. An account's key shares stay on the nodes that were members when its password was set, and its password login needs a threshold of them:\n", req.ID, accounts(n))
	} else {
		fmt.Fprintf(&b, "warning: node %s held a key share of %s; a node added in its place will hold none of them. An account's key shares stay on the nodes that were members when its password was set, and its password login needs a threshold of them:\n", req.ID, accounts(n))
	}
	voters := map[string]bool{}
	for _, m := range members {
		voters[m.ID] = true
	}
	for _, g := range concerned {
		var in []string
		for _, h := range g.Holders {
			if voters[h] {
				in = append(in, h)
			}
		}
		fmt.Fprintf(&b, "  %s: shares on %s, a login needs %d; ", accounts(g.Accounts), nodeList(g.Holders), g.T)
		switch {
		case len(in) == 0:
			b.WriteString("none of them is still a member: the password no longer opens the key (the recovery key does)\n")
		case len(in) < g.T:
			fmt.Fprintf(&b, "only %s: the password no longer opens the key (the recovery key does)\n", nodesVerb(in, "is still a member", "are still members"))
		case len(in) == g.T && g.T == 1:
			fmt.Fprintf(&b, "%s must stay: losing it makes a password login impossible\n", nodeList(in))
		case len(in) == g.T:
			fmt.Fprintf(&b, "%s must all stay up: losing any one makes a password login impossible\n", nodeList(in))
		default:
			fmt.Fprintf(&b, "%d of %s must stay up (%d may be down or removed)\n", g.T, nodeList(in), len(in)-g.T)
		}
	}
	b.WriteString("Setting an account's password again (`chatsafe key set-password`, on a device that has the backup key) shares its key among the current nodes (docs/vault.md, \"Membership\").\n")
	return b.String()
}

func accounts(n int) string { return fmt.Sprintf("%d %s", n, verb(n, "account", "accounts")) }
