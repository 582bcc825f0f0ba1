package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/crypt"
	vaultclient "github.com/chatsafe/chatsafe/vault/client"
	vaultserver "github.com/chatsafe/chatsafe/vault/server"
)

// freeAddr is a loopback address nothing listens on now (raft's listen
// address must be known before the node starts).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startClusterNode runs one vault cluster node until the test ends.
func startClusterNode(t *testing.T, dir, id, raftAddr, ca string, peers []vaultserver.Peer) *vaultserver.Server {
	t.Helper()
	srv, err := vaultserver.NewServer(vaultserver.ServerConfig{
		Listen: "127.0.0.1:0", DataDir: dir, AccountRate: -1, AddressRate: -1, FailureDelay: -1,
		Cluster: &vaultserver.ClusterConfig{NodeID: id, RaftListen: raftAddr, Peers: peers, CAFile: ca,
			HeartbeatTimeout: 400 * time.Millisecond, ElectionTimeout: 400 * time.Millisecond, LeaderLeaseTimeout: 200 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(t.Context()) }()
	t.Cleanup(func() { <-done })
	return srv
}

// TestVaultMembersAddWarnsOfOlderAccounts: `vault members add` on a
// cluster holding an account registered before the new node says that the
// new node holds no share of it and which node must stay, and exits 0.
func TestVaultMembersAddWarnsOfOlderAccounts(t *testing.T) {
	home := t.TempDir()
	dirs := []string{filepath.Join(home, "node1"), filepath.Join(home, "node2")}
	ca := filepath.Join(home, "cluster.pem")
	var pems []byte
	for _, dir := range dirs {
		p, err := vaultserver.EnsureCertificate("127.0.0.1:0", dir)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		pems = append(pems, b...)
	}
	if err := os.WriteFile(ca, pems, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, home, "vault", "key", "new", "--data", dirs[0]).want(t, 0, "copy it")
	mk, err := os.ReadFile(filepath.Join(dirs[0], vaultserver.MasterKeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirs[1], vaultserver.MasterKeyFileName), mk, 0o600); err != nil {
		t.Fatal(err)
	}
	raft1, raft2 := freeAddr(t), freeAddr(t)
	one := startClusterNode(t, dirs[0], "1", raft1, ca, []vaultserver.Peer{{ID: "1", Addr: raft1}})
	select {
	case <-one.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("node 1 did not set up")
	}
	c, err := vaultclient.New(vaultclient.Options{URLs: []string{"https://" + one.Addr().String()}, CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	key, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := c.Register(ctx, "alice", []byte("pw"), key); err != nil {
		t.Fatal(err)
	}
	startClusterNode(t, dirs[1], "2", raft2, ca, nil)
	r := run(t, home, "vault", "members", "add", "2", raft2, "--via", raft1, "--cluster-ca", ca, "--data", dirs[0])
	r.want(t, 0, "node 2 holds no key share of the 1 account registered before it joined")
	r.want(t, 0, "node 1 must stay")
	r.want(t, 0, "2\t"+raft2)
}
