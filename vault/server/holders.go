package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/raft"

	"github.com/chatsafe/chatsafe/vault"
)

// A login needs t evaluations from the nodes that hold the account's key
// shares, and those are fixed at registration: a node added later holds
// none (docs/vault.md, "Membership"). When fewer than t of them answer,
// the login cannot succeed, and counting its attempt first would spend
// one of the owner's attempts on nothing. So login/begin checks, before
// it counts, that t share holders are members and answer a ping, and
// refuses (503 few_share_holders) otherwise. The check evaluates nothing
// and opens no share: a refusal lets no guess be checked, so it may come
// before the count ("Attempt counting"). It reads this node's replica
// and pings peers, so it can be wrong both ways: a holder lost after the
// ping still costs the attempt (as before), a refusal is only "try again".
// When fewer than t holders are still members, no wait helps: the refusal
// says so (410 share_holders_gone), and the owner restores with the
// recovery key and sets the password again. A daemon stops on it for
// good, so only a current view says it (confirmGone): a replica behind on
// a password set again, or on a membership change, refuses as "try
// again" instead.

// errFewHolders is a login refused before counting; its text is the
// client's. It holds what checkHolders saw: the account's holders, those
// of them that are members, those that answer, the members that joined
// later, and the threshold. unsure: too few holders are members as this
// node's replica has it, but this node could not confirm that replica is
// current (why).
type errFewHolders struct {
	holders, members, up, later []string
	t                           int
	unsure                      error
}

func (e errFewHolders) Error() string { return e.text() }

// gone: too few holders are members, on a view confirmed current.
func (e errFewHolders) gone() bool { return len(e.members) < e.t && e.unsure == nil }

// loginHolders reads what the login of account would need: the nodes
// holding its key shares and its threshold. A login without the right
// handle, or for an unknown name, is answered as a fake account of the
// current share nodes (as its evaluation is); skip means nothing to check
// (an erased record, an account from before the threshold OPRF).
func (s *Server) loginHolders(eng *engine, id [32]byte, handle []byte) (holders []string, t int, skip bool, err error) {
	st, found, err := attemptRow(s.store, id, vault.HandleHash(handle))
	if err != nil {
		return nil, 0, false, err
	}
	if found && st.Erased {
		return nil, 0, true, nil
	}
	if !found || st.Ghost || len(st.Sealed) == 0 {
		eng.openDummy(s.mk) // the same unseal as a real account's
		nodes, t, err := s.shareNodes()
		if err != nil {
			return nil, 0, false, err
		}
		for _, n := range nodes {
			holders = append(holders, n.ID)
		}
		return holders, max(t, vault.Threshold(len(nodes))), false, nil
	}
	sec, err := eng.openSecrets(s.mk, id, st.Sealed)
	if err != nil {
		return nil, 0, false, err
	}
	defer clearSecrets(sec)
	if sec.Threshold == 0 {
		return nil, 0, true, nil
	}
	for _, sh := range sec.Shares {
		holders = append(holders, sh.Node)
	}
	slices.Sort(holders)
	return holders, sec.Threshold, false, nil
}

// checkHolders returns errFewHolders when fewer than t of holders are
// members that answer (this node, or a peer's ping within evalWait).
func (s *Server) checkHolders(ctx context.Context, holders []string, t int) error {
	if s.node == nil || t <= 0 {
		return nil
	}
	f := s.node.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("reading the cluster membership: %w", err)
	}
	voters := map[string]string{} // id → raft address
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage == raft.Voter {
			voters[string(srv.ID)] = string(srv.Address)
		}
	}
	var members, up []string
	var peers []string // raft addresses of the member holders but this node
	ids := map[string]string{}
	for _, h := range holders {
		addr, ok := voters[h]
		switch {
		case !ok:
		case h == s.node.id:
			members, up = append(members, h), append(up, h)
		default:
			members, peers = append(members, h), append(peers, addr)
			ids[addr] = h
		}
	}
	if len(members) >= t && len(up) < t {
		for _, addr := range s.node.ping(ctx, peers, t-len(up)) {
			up = append(up, ids[addr])
		}
	}
	if len(up) >= t {
		return nil
	}
	var later []string
	for id := range voters {
		if !slices.Contains(holders, id) {
			later = append(later, id)
		}
	}
	slices.Sort(later)
	slices.Sort(up)
	return errFewHolders{holders: holders, members: members, up: up, later: later, t: t}
}

// confirmGone checks again, on a current view, a login whose holders this
// node's replica has gone (fh): only the leader says "gone", once a quorum
// confirmed it leads and it applied every entry committed before (a
// barrier), and it reads the holders and the membership again after that.
// A follower, or a leader that cannot confirm, returns fh as only "try
// again": its replica may be behind on a password set again since (which
// moved the shares to current members) or on a membership change.
func (s *Server) confirmGone(ctx context.Context, eng *engine, id [32]byte, handle []byte, fh errFewHolders) error {
	if err := s.node.confirmCurrent(ctx); err != nil {
		fh.unsure = err
		return fh
	}
	holders, t, skip, err := s.loginHolders(eng, id, handle)
	if err != nil || skip {
		return err
	}
	return s.checkHolders(ctx, holders, t)
}

// text says which nodes hold the account's shares, which of them are
// members and answer, and what the owner can do.
func (e errFewHolders) text() string {
	holders, members, up, later, t := e.holders, e.members, e.up, e.later, e.t
	var b strings.Builder
	head := vault.ErrFewShareHolders.Error()
	switch {
	case len(members) < t && e.unsure != nil:
		head = "this vault node cannot tell whether this backup key is out of the password's reach for good"
	case len(members) < t:
		head = "the vault can no longer open this backup key with the password"
	}
	fmt.Fprintf(&b, "%s: this account's password login needs %d of the vault nodes holding its key shares, %s (fixed when its password was set)", head, t, nodeList(holders))
	if gone := without(holders, members); len(gone) > 0 {
		fmt.Fprintf(&b, "; %s no longer %s", nodesVerb(gone, "is", "are"), verb(len(gone), "a member", "members"))
	}
	if len(later) > 0 {
		fmt.Fprintf(&b, "; %s joined later and %s none", nodeList(later), verb(len(later), "holds", "hold"))
	}
	if len(members) < t && e.unsure != nil {
		fmt.Fprintf(&b, ". Only %s of them %s a member as this node's replica has it, but that replica may be behind (a password set again since moves the shares to the current nodes), and this node cannot check it: %v. Try again: the cluster's leader answers for good (the client asks it when --vault lists it)", nodeList(members), verb(len(members), "is", "are"), e.unsure)
		return b.String()
	}
	if len(members) < t {
		// No node was pinged: which of them answer does not matter.
		fmt.Fprintf(&b, ". Only %s of them %s still a member, and no wait brings the others back. Restore with the recovery key, then set the password again (`chatsafe key set-password`) to share the key among the current nodes", nodeList(members), verb(len(members), "is", "are"))
		return b.String()
	}
	if len(up) == 0 {
		b.WriteString("; none of them answers")
	} else {
		fmt.Fprintf(&b, "; only %s %s", nodeList(up), verb(len(up), "answers", "answer"))
	}
	fmt.Fprintf(&b, ". Bring back %s and try again, or set the password again (`chatsafe key set-password`, on a device that has the backup key) to share the key among the current nodes", nodeList(without(members, up)))
	return b.String()
}

func without(all, some []string) []string {
	var out []string
	for _, a := range all {
		if !slices.Contains(some, a) {
			out = append(out, a)
		}
	}
	return out
}

// nodeList is "node 1" or "nodes 1, 2 and 3".
func nodeList(ids []string) string {
	switch len(ids) {
	case 0:
		return "no node"
	case 1:
		return "node " + ids[0]
	}
	return "nodes " + strings.Join(ids[:len(ids)-1], ", ") + " and " + ids[len(ids)-1]
}

func nodesVerb(ids []string, one, many string) string {
	return nodeList(ids) + " " + verb(len(ids), one, many)
}

func verb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// PingArgs asks a node whether it can evaluate its key share now.
type PingArgs struct{}

// Ping answers a peer's ping: nil once this node is set up.
func (s *rpcService) Ping(_ PingArgs, ok *bool) error {
	if s.n.evalFn.Load() == nil {
		return errNoQuorum
	}
	*ok = true
	return nil
}

// ping pings the nodes at addrs in parallel and returns those that
// answered, once need of them have or evalWait has passed.
func (n *raftNode) ping(ctx context.Context, addrs []string, need int) []string {
	if need <= 0 || len(addrs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, evalWait)
	defer cancel() // ends the pings still out; their goroutines then return
	ch := make(chan string, len(addrs))
	for _, addr := range addrs {
		go func() {
			var ok bool
			err := n.call(ctx, addr, "Vault.Ping", PingArgs{}, &ok)
			if err != nil && strings.Contains(err.Error(), "can't find method") {
				// A node from before the ping answered: count it up rather
				// than refuse every login during an upgrade.
				err, ok = nil, true
			}
			if err != nil || !ok {
				addr = ""
			}
			ch <- addr // buffered: never blocks
		}()
	}
	var up []string
	for range addrs {
		select {
		case addr := <-ch:
			if addr != "" {
				if up = append(up, addr); len(up) >= need {
					return up
				}
			}
		case <-ctx.Done():
			return up
		}
	}
	return up
}

// fewHolders reports a login refused before counting, and whether for
// good.
func fewHolders(err error) (refused, gone bool) {
	var fh errFewHolders
	if !errors.As(err, &fh) {
		return false, false
	}
	return true, fh.gone()
}
