package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMissingMasterKeySaysWhatToDo: a cluster node started without
// master.key makes none. Before the cluster exists (a node started with
// its bootstrap peers, its raft directory empty) the key is made once,
// with `vault key new`, and copied to every node. A node joining a running
// cluster (no peers: it waits to be added), or one that has run in it (its
// raft directory holds state), must take the cluster's key, copied from a
// node of the cluster: a new one would never open the cluster's secrets.
func TestMissingMasterKeySaysWhatToDo(t *testing.T) {
	ran := t.TempDir()
	if err := os.MkdirAll(filepath.Join(ran, RaftDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ran, RaftDir, "raft.db"), []byte("raft state"), 0o600); err != nil {
		t.Fatal(err)
	}
	bootPeers := []Peer{{ID: "1", Addr: "127.0.0.1:1"}, {ID: "2", Addr: "127.0.0.1:2"}, {ID: "3", Addr: "127.0.0.1:3"}}
	for _, c := range []struct {
		name      string
		dir       string
		peers     []Peer
		want, not string
	}{
		{"bootstrap node, first start", t.TempDir(), bootPeers, "vault key new", ""},
		{"node joining a running cluster", t.TempDir(), nil, "copy", "vault key new"},
		{"node that has run in the cluster", ran, bootPeers, "copy", "vault key new"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewServer(ServerConfig{Listen: "127.0.0.1:0", DataDir: c.dir, Cluster: &ClusterConfig{NodeID: "1", RaftListen: "127.0.0.1:0", Peers: c.peers, CAFile: filepath.Join(c.dir, "ca.pem")}})
			if err == nil {
				t.Fatal("a cluster node started without a master key")
			}
			t.Logf("the error: %v", err)
			if _, serr := os.Stat(filepath.Join(c.dir, MasterKeyFileName)); serr == nil {
				t.Error("the node made a master key of its own")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("the error does not say %q", c.want)
			}
			if c.not != "" && strings.Contains(err.Error(), c.not) {
				t.Errorf("the error says %q", c.not)
			}
		})
	}
}
