package server

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/chatsafe/chatsafe/vault"
)

// TestStaleDatabaseRestoredBackup: a node's vault.db is put back from a
// backup taken before the key was erased, after its raft snapshot (and the
// log compaction behind it) moved past the erasure. The node must not come
// back with the old record: as leader it would release a key the quorum
// erased.
func TestStaleDatabaseRestoredBackup(t *testing.T) {
	tc := startCluster(t, 3, func(c *ServerConfig) {
		c.Cluster.TrailingLogs = 2
		c.Cluster.SnapshotThreshold = 1 << 20 // snapshots only when asked
	})
	ctx := context.Background()
	key := newKey(t)
	if err := reg(tc.client(), ctx, "olga", []byte("right"), key); err != nil {
		t.Fatalf("Register: %v", err)
	}
	tc.syncAll()
	x := (tc.leader() + 1) % 3
	db := filepath.Join(tc.dirs[x], DBFileName)
	tc.stop(x)
	backup, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	tc.restart(x)
	tc.waitReady()

	for range DefaultMaxAttempts {
		if _, err := rec(tc.client(), ctx, "olga", []byte("wrong")); !errors.Is(err, vault.ErrWrongPassword) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	if _, err := rec(tc.client(), ctx, "olga", []byte("right")); !errors.Is(err, vault.ErrErased) {
		t.Fatalf("after %d wrong passwords: %v, want ErrErased", DefaultMaxAttempts, err)
	}
	tc.syncAll()
	for i, tv := range tc.nodes {
		if err := tv.srv.node.raft.Snapshot().Error(); err != nil {
			t.Fatalf("node %d snapshot: %v", i+1, err)
		}
	}

	// The backup goes back in place of node x's database.
	tc.stop(x)
	if err := os.WriteFile(db, backup, 0o600); err != nil {
		t.Fatal(err)
	}
	tc.restart(x)
	tc.waitReady()
	tc.syncAll()
	xv := tc.nodes[x]
	st, found, err := xv.srv.store.view(xv.srv.eng.Load().accountID("olga"))
	if err != nil || !found || !st.Erased || st.Sealed != nil {
		t.Errorf("node %d after its database was restored from a backup: found=%v erased=%v sealed=%d bytes (%v); want the erasure", x+1, found, st.Erased, len(st.Sealed), err)
	}

	// As leader, it must still answer that the key is erased.
	l := tc.leader()
	if l != x {
		f := tc.nodes[l].srv.node.raft.LeadershipTransferToServer(raft.ServerID(tc.peers[x].ID), raft.ServerAddress(tc.raft[x]))
		if err := f.Error(); err != nil {
			t.Fatalf("leadership transfer to node %d: %v", x+1, err)
		}
		tc.waitLeader(true)
	}
	if tc.leader() != x {
		t.Fatalf("node %d did not become leader", x+1)
	}
	if got, err := rec(tc.client(x), ctx, "olga", []byte("right")); !errors.Is(err, vault.ErrErased) {
		t.Fatalf("the restored node as leader: %v (released key: %v), want ErrErased", err, got == key)
	}
}
