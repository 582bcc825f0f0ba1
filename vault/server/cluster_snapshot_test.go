package server

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestClusterSnapshotsAndRestarts compacts the log, brings a node that
// missed the compacted entries back through a snapshot install, and
// restarts the whole cluster: the counters survive all of it.
func TestClusterSnapshotsAndRestarts(t *testing.T) {
	tc := startCluster(t, 3, func(c *ServerConfig) {
		c.Cluster.TrailingLogs = 2
		c.Cluster.SnapshotThreshold = 1 << 20 // snapshots only when asked
	})
	ctx := context.Background()
	key := newKey(t)
	if err := reg(tc.client(), ctx, "frank", []byte("right"), key); err != nil {
		t.Fatalf("Register: %v", err)
	}
	l := tc.leader()
	lag := (l + 1) % 3
	tc.stop(lag)
	c := tc.client(l)
	for k := range 4 {
		_, err := rec(c, ctx, "frank", []byte("wrong"))
		if left := wrongLeft(t, err); left != DefaultMaxAttempts-1-k {
			t.Fatalf("wrong attempt %d: %d left", k+1, left)
		}
	}
	ln := tc.nodes[l].srv.node
	if err := ln.raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	first, err := ln.logStore.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	if first <= 2 {
		t.Fatalf("log not compacted after the snapshot: first index %d", first)
	}
	// The stopped node's next entry is gone from the leader's log: it can
	// only catch up by installing the snapshot.
	tc.restart(lag)
	tc.waitReady()
	tc.syncAll()
	lv := tc.nodes[lag]
	st, found, err := lv.srv.store.view(lv.srv.eng.Load().accountID("frank"))
	if err != nil || !found || st.Attempts != 4 {
		t.Fatalf("node restored from the snapshot: attempts %d found %v err %v, want 4", st.Attempts, found, err)
	}

	// Whole cluster down and up again.
	for i := range tc.nodes {
		tc.stop(i)
	}
	for i := range tc.nodes {
		tc.restart(i)
	}
	tc.waitReady()
	tc.waitLeader(true)
	_, err = rec(tc.client(lag), ctx, "frank", []byte("wrong"))
	if left := wrongLeft(t, err); left != DefaultMaxAttempts-5 {
		t.Fatalf("after restarting the cluster: %d left, want %d", left, DefaultMaxAttempts-5)
	}
	if got, err := rec(tc.client(), ctx, "frank", []byte("right")); err != nil || got != key {
		t.Fatalf("Recover after restarting the cluster: %v", err)
	}
}

func TestClusterMembersAdmin(t *testing.T) {
	tc := startCluster(t, 3, nil)
	follower := (tc.leader() + 1) % 3
	opts := AdminOptions{
		Addr:     tc.raft[follower],
		CAFile:   tc.caFile,
		CertFile: filepath.Join(tc.dirs[0], TLSCertFile),
		KeyFile:  filepath.Join(tc.dirs[0], tlsKeyFile),
		Timeout:  10 * time.Second,
	}
	ms, err := ClusterMembers(context.Background(), opts, MembersRequest{Op: "list"})
	if err != nil {
		t.Fatalf("list through a follower: %v", err)
	}
	leaders := 0
	for _, m := range ms {
		if m.Leader {
			leaders++
		}
	}
	if len(ms) != 3 || leaders != 1 {
		t.Fatalf("members: %+v", ms)
	}
	ms, err = ClusterMembers(context.Background(), opts, MembersRequest{Op: "remove", ID: tc.peers[3-tc.leader()-follower].ID})
	if err != nil || len(ms) != 2 {
		t.Fatalf("remove: %+v, %v", ms, err)
	}

	// A certificate the cluster CA file does not trust is refused.
	stranger := t.TempDir()
	if _, err := EnsureCertificate("127.0.0.1:0", stranger); err != nil {
		t.Fatal(err)
	}
	opts.CertFile = filepath.Join(stranger, TLSCertFile)
	opts.KeyFile = filepath.Join(stranger, tlsKeyFile)
	if _, err := ClusterMembers(context.Background(), opts, MembersRequest{Op: "list"}); err == nil {
		t.Fatal("a stranger's certificate was accepted")
	}
}
