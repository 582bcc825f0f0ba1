package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/chatsafe/chatsafe/vault"
)

// lossyDial opens a node's connections to its peers. Once armed, the next
// data that arrives on one of them is dropped and the connection ends, as
// when a leader has applied a forwarded change and its answer is lost (the
// leader stops, the network cuts). Only connections this node dialed are
// affected; a stable follower reads nothing on its raft ones (the leader
// dials the followers), so the data dropped is an internal-RPC answer.
type lossyDial struct {
	armed atomic.Bool
	lost  atomic.Int32
}

func (d *lossyDial) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &lossyConn{Conn: c, d: d}, nil
}

type lossyConn struct {
	net.Conn
	d *lossyDial
}

func (c *lossyConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.d.armed.CompareAndSwap(true, false) {
		c.d.lost.Add(1)
		c.Conn.Close()
		return 0, io.EOF
	}
	return n, err
}

// A follower forwards a login attempt to the leader, the leader commits it,
// and the answer is lost on the way back. The follower sends the change
// again (nothing says the leader did not take it) and the leader's state
// machine must count it once: one wrong password costs one attempt, never
// two (two would erase the key early), and the login is answered rather
// than refused.
func TestClusterForwardedAttemptRetriedCountsOnce(t *testing.T) {
	dials := map[string]*lossyDial{"1": {}, "2": {}, "3": {}}
	tc := startCluster(t, 3, func(c *ServerConfig) { c.Cluster.dial = dials[c.Cluster.NodeID].dial })
	ctx := context.Background()
	if err := reg(tc.client(), ctx, "dora", []byte("right"), newKey(t)); err != nil {
		t.Fatalf("Register: %v", err)
	}
	f := (tc.leader() + 1) % 3
	fn := tc.nodes[f].srv.node
	// A read through the leader first, so that the follower holds an
	// open internal-RPC connection and the armed drop hits the answer to
	// the attempt, not a handshake.
	if _, err := fn.readHead(ctx, Command{Op: OpHead, Account: tc.nodes[f].srv.eng.Load().accountID("nobody")}); err != nil {
		t.Fatalf("a read through the leader: %v", err)
	}
	dials[fn.id].armed.Store(true)

	_, err := rec(tc.client(f), ctx, "dora", []byte("wrong"))
	if dials[fn.id].lost.Load() != 1 {
		t.Fatalf("the follower's forwarded attempt lost %d answers, want 1 (the test did not cut what it meant to)", dials[fn.id].lost.Load())
	}
	if left := wrongLeft(t, err); left != DefaultMaxAttempts-1 {
		t.Fatalf("one wrong password through a follower whose first answer was lost: %d attempts left, want %d", left, DefaultMaxAttempts-1)
	}
	tc.syncAll()
	for i, tv := range tc.nodes {
		st, _, err := tv.srv.store.view(tv.srv.eng.Load().accountID("dora"))
		if err != nil {
			t.Fatal(err)
		}
		if st.Attempts != 1 || st.Erased {
			t.Fatalf("node %d counts %d attempts (erased %v), want 1", i+1, st.Attempts, st.Erased)
		}
	}
}

// An account from before the threshold OPRF replays its counted element
// through a follower whose forwarded commit's answer is lost: the follower
// sends the change again and the leader answers the second copy from its
// record of the first. That answer must still say it is a replay, or the
// node opens a session for it: a free guess of any password, since such
// an account takes KE1 of the password itself.
func TestClusterForwardedReplayStaysAReplay(t *testing.T) {
	dials := map[string]*lossyDial{"1": {}, "2": {}, "3": {}}
	tc := startCluster(t, 3, func(c *ServerConfig) { c.Cluster.dial = dials[c.Cluster.NodeID].dial })
	legacyAccount(t, tc, "vic", newKey(t))
	f := (tc.leader() + 1) % 3
	fn := tc.nodes[f].srv.node
	req := vault.LoginBeginReq{Account: "vic", Blinded: vault.NewTOPRFBlind("vic", []byte("guess")).Blinded, Handle: handleBytes("vic")}
	if status, first := tryBegin(t, tc.nodes[f], req); status != http.StatusOK || first.Threshold != 0 {
		t.Fatalf("first begin: %d, threshold %d", status, first.Threshold)
	}
	dials[fn.id].armed.Store(true)
	status, _ := tryBegin(t, tc.nodes[f], req)
	if dials[fn.id].lost.Load() != 1 {
		t.Fatalf("the follower's forwarded replay lost %d answers, want 1 (the test did not cut what it meant to)", dials[fn.id].lost.Load())
	}
	if status != http.StatusConflict {
		t.Fatalf("a replay whose forwarded commit was sent again: %d, want 409 attempt_spent (a session would be a free guess)", status)
	}
	if n, _ := rowAttempts(t, tc, "vic"); n != 1 {
		t.Fatalf("%d attempts counted, want 1", n)
	}
}
