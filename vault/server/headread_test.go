package server

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/chatsafe/chatsafe/vault"
)

// logMoved returns every running node's last raft index if any holds a
// command past index (the leader's last index before a read), else nil:
// every entry starts on the leader, and followers may still be catching
// up to it, never past it.
func (tc *testCluster) logMoved(index uint64) []uint64 {
	moved := false
	var all []uint64
	for _, tv := range tc.nodes {
		if !tv.alive {
			continue
		}
		li := tv.srv.node.raft.LastIndex()
		all = append(all, li)
		// A read would append a command. An election on a loaded
		// machine appends the new leader's no-op, which is none.
		for i := index + 1; i <= li; i++ {
			var l raft.Log
			if err := tv.srv.node.logStore.GetLog(i, &l); err != nil || l.Type == raft.LogCommand {
				moved = true
			}
		}
	}
	if !moved {
		return nil
	}
	return all
}

// TestClusterHeadReadAppendsNothing: a head read, on the leader or on a
// follower, sees the advance another node committed just before, and adds
// no entry to any node's log; so do the refusals, which stay what they were.
func TestClusterHeadReadAppendsNothing(t *testing.T) {
	tc := startCluster(t, 3, nil)
	ctx := context.Background()
	key := newKey(t)
	if err := reg(tc.client(), ctx, "gina", []byte("pw"), key); err != nil {
		t.Fatal(err)
	}
	h := handleOf("gina")
	l := tc.leader()
	for seq := uint64(1); seq <= 3; seq++ {
		// Advance through one node, read at once through each of the
		// others: no wait, the read itself must catch up.
		via := (l + int(seq)) % 3
		prev := vault.HeadRecord{}
		if seq > 1 {
			prev = headAt(seq-1, 1)
		}
		if err := tc.client(via).AdvanceHead(ctx, "gina", key, h, prev, headAt(seq, 1)); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if i == via {
				continue
			}
			before := tc.nodes[l].srv.node.raft.LastIndex()
			got, err := tc.client(i).Head(ctx, "gina", key, h)
			if err != nil || !sameHead(got, headAt(seq, 1)) {
				t.Fatalf("node %d right after sequence %d was committed through node %d: %+v, %v", i+1, seq, via+1, got, err)
			}
			if moved := tc.logMoved(before); moved != nil {
				t.Fatalf("a head read on node %d appended to the raft logs: leader at %d before, nodes at %v after", i+1, before, moved)
			}
		}
	}
	before := tc.nodes[l].srv.node.raft.LastIndex()
	for i := range 3 {
		c := tc.client(i)
		if _, err := c.Head(ctx, "gina", newKey(t), h); !errors.Is(err, vault.ErrNotOwner) {
			t.Fatalf("node %d: another key read the head: %v", i+1, err)
		}
		if _, err := c.Head(ctx, "gina", key, vault.Handle{}); !errors.Is(err, vault.ErrNotOwner) {
			t.Fatalf("node %d: the head was read without the handle: %v", i+1, err)
		}
		if _, err := c.Head(ctx, "nobody", key, h); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("node %d: an unknown account: %v", i+1, err)
		}
	}
	if moved := tc.logMoved(before); moved != nil {
		t.Fatalf("refused head reads appended to the raft logs: leader at %d before, nodes at %v after", before, moved)
	}
}

// netCut cuts one node off the others: its raft port refuses and drops
// every connection, and so do its own dials. Clients still reach its
// HTTPS port.
type netCut struct {
	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
}

func (p *netCut) add(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	if p.conns == nil {
		p.conns = map[net.Conn]struct{}{}
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *netCut) set(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

func (p *netCut) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if !p.add(c) {
		c.Close()
		return nil, errors.New("test: this node is cut off")
	}
	return c, nil
}

type cutListener struct {
	net.Listener
	p *netCut
}

func (l cutListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || l.p.add(c) {
			return c, err
		}
		c.Close()
	}
}

// TestDeposedLeaderHeadRead: a leader cut off from the others, which still
// believes it leads, answers no head read while the others elect a new
// leader and advance the head: it would answer the old head from its own
// database. Once it is back, it reads the new head.
func TestDeposedLeaderHeadRead(t *testing.T) {
	cut := &netCut{}
	tc := startCluster(t, 3, func(c *ServerConfig) {
		if c.Cluster.NodeID != "1" {
			// Long enough not to call an election while node 1 leads;
			// shortened once it is cut off.
			c.Cluster.HeartbeatTimeout, c.Cluster.ElectionTimeout, c.Cluster.LeaderLeaseTimeout = 1500*time.Millisecond, 1500*time.Millisecond, 300*time.Millisecond
			return
		}
		// Node 1 heartbeats every 0.3–0.6 s but, as leader, only steps
		// down 3–6 s after it last heard from a quorum: long after the
		// others elect.
		c.Cluster.HeartbeatTimeout, c.Cluster.ElectionTimeout, c.Cluster.LeaderLeaseTimeout = 3*time.Second, 3*time.Second, 3*time.Second
		if c.Cluster.listener != nil {
			c.Cluster.listener = cutListener{c.Cluster.listener, cut}
		}
		c.Cluster.dial = cut.dial
	})
	// Registered after the cluster's, so it runs before the nodes stop:
	// whatever happened, they stop as a connected cluster.
	t.Cleanup(func() { cut.set(false) })
	ctx := context.Background()
	key := newKey(t)
	if err := reg(tc.client(), ctx, "hank", []byte("pw"), key); err != nil {
		t.Fatal(err)
	}
	h := handleOf("hank")
	if err := tc.client().AdvanceHead(ctx, "hank", key, h, vault.HeadRecord{}, headAt(1, 1)); err != nil {
		t.Fatal(err)
	}
	if l := tc.leader(); l != 0 {
		n1 := tc.nodes[0].srv.node
		if err := tc.nodes[l].srv.node.raft.LeadershipTransferToServer(raft.ServerID(n1.id), raft.ServerAddress(tc.peers[0].Addr)).Error(); err != nil {
			t.Fatalf("moving the leadership to node 1: %v", err)
		}
		tc.waitLeader(true)
	}
	old := tc.nodes[0].srv.node
	if got, err := tc.client(0).Head(ctx, "hank", key, h); err != nil || !sameHead(got, headAt(1, 1)) {
		t.Fatalf("node 1 leading: %+v, %v", got, err)
	}

	cut.set(true)
	for _, i := range []int{1, 2} {
		r := tc.nodes[i].srv.node.raft
		rc := r.ReloadableConfig()
		rc.HeartbeatTimeout, rc.ElectionTimeout = 300*time.Millisecond, 300*time.Millisecond
		if err := r.ReloadConfig(rc); err != nil {
			t.Fatal(err)
		}
	}
	tc.waitLeaderAmong(1, 2)
	if err := tc.client(1, 2).AdvanceHead(ctx, "hank", key, h, headAt(1, 1), headAt(2, 2)); err != nil {
		t.Fatalf("advancing on the new leader: %v", err)
	}
	if old.raft.State() != raft.Leader {
		t.Fatal("node 1 stepped down before the read: this test needs a leader that does not know it was deposed")
	}
	got, err := tc.client(0).Head(ctx, "hank", key, h)
	if err == nil {
		t.Fatalf("the deposed leader answered a head read: %+v (the head is at sequence 2)", got)
	}
	if !errors.Is(err, vault.ErrUnreachable) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("the deposed leader's refusal: %v; want 503 (no quorum)", err)
	}

	cut.set(false)
	tc.waitLeader(true)
	if got, err := tc.client(0).Head(ctx, "hank", key, h); err != nil || !sameHead(got, headAt(2, 2)) {
		for _, e := range tc.nodes[0].logs.All() {
			t.Logf("node 1 log: %s %v", e.Message, e.ContextMap())
		}
		t.Fatalf("node 1 back in the cluster: %+v, %v", got, err)
	}
}

// waitLeaderAmong waits until the given running nodes agree on a leader
// among themselves.
func (tc *testCluster) waitLeaderAmong(nodes ...int) {
	tc.tb.Helper()
	obs := make(chan raft.Observation, 64)
	in := map[raft.ServerID]bool{}
	for _, i := range nodes {
		n := tc.nodes[i].srv.node
		in[raft.ServerID(n.id)] = true
		o := raft.NewObserver(obs, false, func(o *raft.Observation) bool {
			_, ok := o.Data.(raft.LeaderObservation)
			return ok
		})
		n.raft.RegisterObserver(o)
		defer n.raft.DeregisterObserver(o)
	}
	agreed := func() bool {
		var first raft.ServerID
		for k, i := range nodes {
			_, id := tc.nodes[i].srv.node.raft.LeaderWithID()
			if !in[id] || (k > 0 && id != first) {
				return false
			}
			first = id
		}
		return true
	}
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for !agreed() {
		select {
		case <-obs:
		case <-deadline.C:
			tc.tb.Fatalf("nodes %v did not agree on a leader among them", nodes)
		}
	}
}
