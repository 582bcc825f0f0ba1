package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/vault/client"
)

// testCluster is n real vault nodes on loopback: HTTPS for clients, raft
// and the internal RPC over mutual TLS between them, each with its own data
// directory.
type testCluster struct {
	tb     testing.TB
	nodes  []*testVault
	dirs   []string
	http   []string // host:port, kept across restarts
	raft   []string
	caFile string
	peers  []Peer
	boot   int // nodes started with the bootstrap peers; later ones join with vault members add
	mod    func(*ServerConfig)
	urls   []string
}

// startCluster starts n nodes and waits until every one is ready.
func startCluster(tb testing.TB, n int, mod func(*ServerConfig)) *testCluster {
	tb.Helper()
	tc := launchCluster(tb, n, mod)
	tc.waitReady()
	// Every node has published its share key; wait until every replica
	// has them all, so that any node can answer a registration.
	tc.waitLeader(true)
	tc.syncAll()
	return tc
}

// launchCluster starts n nodes without waiting for them to set up.
func launchCluster(tb testing.TB, n int, mod func(*ServerConfig)) *testCluster {
	tb.Helper()
	root := tb.TempDir()
	tc := &testCluster{tb: tb, mod: mod, caFile: filepath.Join(root, "cluster-ca.pem"), boot: n}
	tc.logsOnFailure()
	var ca []byte
	var httpLns, raftLns []net.Listener
	for i := range n {
		dir := filepath.Join(root, fmt.Sprintf("node%d", i+1))
		// Each node's self-signed certificate, made before the start so
		// that the cluster CA file can list them all.
		if err := writeSelfSigned("127.0.0.1:0", filepath.Join(dir, TLSCertFile), filepath.Join(dir, tlsKeyFile)); err != nil {
			tb.Fatal(err)
		}
		pem, err := os.ReadFile(filepath.Join(dir, TLSCertFile))
		if err != nil {
			tb.Fatal(err)
		}
		ca = append(ca, pem...)
		hl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		rl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		httpLns, raftLns = append(httpLns, hl), append(raftLns, rl)
		tc.dirs = append(tc.dirs, dir)
		tc.http = append(tc.http, hl.Addr().String())
		tc.raft = append(tc.raft, rl.Addr().String())
		tc.peers = append(tc.peers, Peer{ID: fmt.Sprint(i + 1), Addr: rl.Addr().String()})
		tc.urls = append(tc.urls, "https://"+hl.Addr().String())
	}
	if err := os.WriteFile(tc.caFile, ca, 0o644); err != nil {
		tb.Fatal(err)
	}
	// Every node seals with the same master key.
	if _, err := OpenFileMasterKey(filepath.Join(root, MasterKeyFileName)); err != nil {
		tb.Fatal(err)
	}
	mk, err := os.ReadFile(filepath.Join(root, MasterKeyFileName))
	if err != nil {
		tb.Fatal(err)
	}
	for _, dir := range tc.dirs {
		if err := os.WriteFile(filepath.Join(dir, MasterKeyFileName), mk, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	tc.nodes = make([]*testVault, n)
	for i := range n {
		// The HTTPS port is re-bound by NewServer; raft's listener is
		// handed over as is.
		httpLns[i].Close()
		tc.nodes[i] = tc.start(i, raftLns[i])
	}
	return tc
}

func (tc *testCluster) start(i int, raftLn net.Listener) *testVault {
	tc.tb.Helper()
	tv := startVault(tc.tb, tc.dirs[i], func(c *ServerConfig) {
		c.Listen = tc.http[i]
		c.Cluster = &ClusterConfig{
			NodeID:             fmt.Sprint(i + 1),
			RaftListen:         tc.raft[i],
			Peers:              tc.bootPeers(i),
			CAFile:             tc.caFile,
			HeartbeatTimeout:   400 * time.Millisecond,
			ElectionTimeout:    400 * time.Millisecond,
			LeaderLeaseTimeout: 200 * time.Millisecond,
			ApplyTimeout:       3 * time.Second,
			listener:           raftLn,
		}
		if tc.mod != nil {
			tc.mod(c)
		}
	})
	tv.ccfg.CAFile = tc.caFile
	return tv
}

// bootPeers is node i's bootstrap configuration: none for a node that
// joins later.
func (tc *testCluster) bootPeers(i int) []Peer {
	if i >= tc.boot {
		return nil
	}
	return tc.peers[:tc.boot]
}

// stop stops node i (its Serve returns, raft is shut down, files closed).
func (tc *testCluster) stop(i int) { tc.nodes[i].Stop() }

// restart starts node i again on its data directory and addresses.
func (tc *testCluster) restart(i int) {
	tc.tb.Helper()
	if tc.nodes[i].alive {
		tc.tb.Fatalf("node %d is running", i+1)
	}
	tc.nodes[i] = tc.start(i, nil)
}

// waitReady waits until every running node has set up through a quorum.
func (tc *testCluster) waitReady() {
	tc.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, tv := range tc.nodes {
		if !tv.alive {
			continue
		}
		select {
		case <-tv.srv.Ready():
		case <-ctx.Done():
			for _, e := range tv.logs.All() {
				tc.tb.Logf("node %d log: %s %v", i+1, e.Message, e.ContextMap())
			}
			tc.tb.Fatalf("node %d did not become ready", i+1)
		}
	}
}

// client talks to the given nodes (all when none is named), in that order.
func (tc *testCluster) client(nodes ...int) *client.Client {
	tc.tb.Helper()
	if len(nodes) == 0 {
		for i := range tc.nodes {
			nodes = append(nodes, i)
		}
	}
	var urls []string
	for _, i := range nodes {
		urls = append(urls, tc.urls[i])
	}
	c, err := client.New(client.Options{URLs: urls, CAFile: tc.caFile, Timeout: 20 * time.Second, KSFParameters: testKSF})
	if err != nil {
		tc.tb.Fatal(err)
	}
	for _, i := range nodes {
		tc.nodes[i].conns = append(tc.nodes[i].conns, c)
	}
	tc.tb.Cleanup(c.CloseIdleConnections)
	return c
}

// leader returns the index of the running node that is leader. On a
// loaded machine a leader can miss its quorum's heartbeats and step down
// at any moment; then it waits for the cluster to agree on the next one.
func (tc *testCluster) leader() int {
	tc.tb.Helper()
	for range 5 {
		for i, tv := range tc.nodes {
			if tv.alive && tv.srv.Leader() {
				return i
			}
		}
		tc.waitLeader(true)
	}
	tc.tb.Fatal("no leader")
	return -1
}

// waitLeader waits, on raft's own leader observations, until every running
// node agrees on one running leader (want: true) or none of them sees a
// leader (want: false).
func (tc *testCluster) waitLeader(want bool) {
	tc.tb.Helper()
	obs := make(chan raft.Observation, 64)
	var running []*raftNode
	for _, tv := range tc.nodes {
		if tv.alive {
			o := raft.NewObserver(obs, false, func(o *raft.Observation) bool {
				_, ok := o.Data.(raft.LeaderObservation)
				return ok
			})
			tv.srv.node.raft.RegisterObserver(o)
			defer tv.srv.node.raft.DeregisterObserver(o)
			running = append(running, tv.srv.node)
		}
	}
	alive := map[raft.ServerID]bool{}
	for _, n := range running {
		alive[raft.ServerID(n.id)] = true
	}
	done := func() bool {
		var first raft.ServerID
		for i, n := range running {
			_, id := n.raft.LeaderWithID()
			if !want {
				if id != "" {
					return false
				}
				continue
			}
			if id == "" || !alive[id] || (i > 0 && id != first) {
				return false
			}
			first = id
		}
		return true
	}
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for !done() {
		select {
		case <-obs:
		case <-deadline.C:
			tc.tb.Fatalf("cluster did not reach leader=%v", want)
		}
	}
}

// syncAll waits until every running node has applied everything the
// leader has committed.
func (tc *testCluster) syncAll() {
	tc.tb.Helper()
	var l *raftNode
	for try := 1; ; try++ {
		l = tc.nodes[tc.leader()].srv.node
		err := l.raft.Barrier(10 * time.Second).Error()
		if err == nil {
			break
		}
		// A leader that stepped down under load: the next one commits
		// the barrier.
		if try == 5 || !(errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrNotLeader)) {
			tc.tb.Fatalf("barrier: %v", err)
		}
		tc.waitLeader(true)
	}
	// Barrier entries never reach the FSM; wait for the last one that did.
	l.fsm.appliedMu.Lock()
	idx := l.fsm.applied
	l.fsm.appliedMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, tv := range tc.nodes {
		if !tv.alive {
			continue
		}
		if err := tv.srv.node.fsm.waitApplied(ctx, idx); err != nil {
			tc.tb.Fatalf("node %d did not catch up to index %d: %v", i+1, idx, err)
		}
	}
}

// logsOnFailure prints every node's warnings and errors if the test
// fails, so that a refusal (a 503) shows the error behind it.
func (tc *testCluster) logsOnFailure() {
	tc.tb.Cleanup(func() {
		if !tc.tb.Failed() {
			return
		}
		for i, tv := range tc.nodes {
			if tv == nil { // the cluster did not finish starting
				continue
			}
			for _, e := range tv.logs.FilterLevelExact(zap.WarnLevel).All() {
				tc.tb.Logf("node %d warn: %s %v", i+1, e.Message, e.ContextMap())
			}
			for _, e := range tv.logs.FilterLevelExact(zap.ErrorLevel).All() {
				tc.tb.Logf("node %d error: %s %v", i+1, e.Message, e.ContextMap())
			}
		}
	})
}
