package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/vault"
)

// join adds a node the way docs/vault.md "Membership" says: its own
// certificate appended to the cluster CA file, the cluster's master.key
// copied, started without peers, then `vault members add` through node via.
// It returns the new node's index once every running node is ready.
func (tc *testCluster) join(via int) int {
	tc.tb.Helper()
	i := tc.joinStart(via)
	tc.waitReady()
	return i
}

// joinStart is join without waiting for the new node to set up.
func (tc *testCluster) joinStart(via int) int {
	tc.tb.Helper()
	i := len(tc.nodes)
	root := filepath.Dir(tc.caFile)
	dir := filepath.Join(root, fmt.Sprintf("node%d", i+1))
	if err := writeSelfSigned("127.0.0.1:0", filepath.Join(dir, TLSCertFile), filepath.Join(dir, tlsKeyFile)); err != nil {
		tc.tb.Fatal(err)
	}
	pem, err := os.ReadFile(filepath.Join(dir, TLSCertFile))
	if err != nil {
		tc.tb.Fatal(err)
	}
	ca, err := os.ReadFile(tc.caFile)
	if err != nil {
		tc.tb.Fatal(err)
	}
	if err := os.WriteFile(tc.caFile, append(ca, pem...), 0o644); err != nil {
		tc.tb.Fatal(err)
	}
	mk, err := os.ReadFile(filepath.Join(root, MasterKeyFileName))
	if err != nil {
		tc.tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, MasterKeyFileName), mk, 0o600); err != nil {
		tc.tb.Fatal(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tc.tb.Fatal(err)
	}
	rl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tc.tb.Fatal(err)
	}
	tc.dirs = append(tc.dirs, dir)
	tc.http = append(tc.http, hl.Addr().String())
	tc.raft = append(tc.raft, rl.Addr().String())
	tc.peers = append(tc.peers, Peer{ID: fmt.Sprint(i + 1), Addr: rl.Addr().String()})
	tc.urls = append(tc.urls, "https://"+hl.Addr().String())
	hl.Close()
	tc.nodes = append(tc.nodes, tc.start(i, rl))
	if _, err := ClusterMembers(context.Background(), tc.admin(via), MembersRequest{Op: "add", ID: tc.peers[i].ID, Addr: tc.raft[i]}); err != nil {
		tc.tb.Fatalf("members add %s: %v", tc.peers[i].ID, err)
	}
	return i
}

// admin is how `vault members` reaches the cluster through node i.
func (tc *testCluster) admin(i int) AdminOptions {
	return AdminOptions{Addr: tc.raft[i], CAFile: tc.caFile, CertFile: filepath.Join(tc.dirs[i], TLSCertFile), KeyFile: filepath.Join(tc.dirs[i], tlsKeyFile), Timeout: 15 * time.Second}
}

// TestReplacedNodeLoginRefusedBeforeCounting is the operator's trial of
// docs/vault.md "Membership": alice registered on nodes 1, 2 and 3; node 3
// dies and is replaced by node 4 (which holds no share of alice's key);
// then node 1 stops. Nodes 2 and 4 have a quorum but only one of alice's
// shares: her correct password cannot log in. The vault must say so, and
// say it before counting: the failed login costs no attempt, so a wrong
// password afterwards (node 1 back) leaves 9.
func TestReplacedNodeLoginRefusedBeforeCounting(t *testing.T) {
	tc := startCluster(t, 3, nil)
	ctx := context.Background()
	key := newKey(t)
	if err := reg(tc.client(), ctx, "alice", []byte("right"), key); err != nil {
		t.Fatal(err)
	}
	tc.syncAll()
	tc.stop(2) // node 3 dies
	tc.waitLeader(true)
	if _, err := ClusterMembers(ctx, tc.admin(0), MembersRequest{Op: "remove", ID: "3"}); err != nil {
		t.Fatalf("members remove 3: %v", err)
	}
	four := tc.join(0)
	tc.syncAll()
	tc.stop(0) // node 1 stops: nodes 2 and 4 still have a quorum
	tc.waitLeader(true)

	_, err := rec(tc.client(0, 1, four), ctx, "alice", []byte("right"))
	if err == nil {
		t.Fatal("the login succeeded with one of alice's two shares")
	}
	msg := err.Error()
	t.Logf("the error: %v", err)
	for _, bad := range []string{"no such account", "list every vault node"} {
		if strings.Contains(msg, bad) {
			t.Errorf("the error says %q", bad)
		}
	}
	for _, want := range []string{"node 4", "bring back node 1", "set the password again"} {
		if !strings.Contains(strings.ToLower(msg), want) {
			t.Errorf("the error does not say %q", want)
		}
	}
	if errors.Is(err, vault.ErrAttemptSpent) || !errors.Is(err, vault.ErrUnreachable) {
		t.Errorf("the error is not a refusal before counting (spent %v, unreachable %v)", errors.Is(err, vault.ErrAttemptSpent), errors.Is(err, vault.ErrUnreachable))
	}

	tc.restart(0)
	tc.waitReady()
	tc.waitLeader(true)
	tc.syncAll()
	_, err = rec(tc.client(0, 1, four), ctx, "alice", []byte("wrong"))
	if left := wrongLeft(t, err); left != DefaultMaxAttempts-1 {
		t.Fatalf("a wrong password after the refused login: %d attempts left, want %d (the refused login was counted)", left, DefaultMaxAttempts-1)
	}
	if got, err := rec(tc.client(0, 1, four), ctx, "alice", []byte("right")); err != nil || got != key {
		t.Fatalf("the right password with node 1 back: %v", err)
	}
}

// TestClusterMasterKeysDifferNamed: three nodes started as the Replication
// recipe once showed, each making its own master.key. Only one node's key
// opens the cluster's secrets; a client must learn from the refusal that
// the nodes' master keys differ, not only "no quorum".
func TestClusterMasterKeysDifferNamed(t *testing.T) {
	tc := launchCluster(t, 3, func(c *ServerConfig) {
		mk, err := OpenFileMasterKey(filepath.Join(c.DataDir, "own-master.key"))
		if err != nil {
			t.Fatal(err)
		}
		c.MasterKey = mk
	})
	tc.waitLeader(true)
	// One node's key won the cluster's secrets: it sets up; the others never do.
	select {
	case <-tc.nodes[0].srv.Ready():
	case <-tc.nodes[1].srv.Ready():
	case <-tc.nodes[2].srv.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("no node set up")
	}
	ctx := context.Background()
	err := reg(tc.client(), ctx, "bob", []byte("pw"), newKey(t))
	if err == nil {
		t.Fatal("registered on nodes with different master keys")
	}
	t.Logf("the error: %v", err)
	if !strings.Contains(err.Error(), "master key") {
		t.Errorf("the error does not name the master key: %v", err)
	}
	_, err = rec(tc.client(), ctx, "bob", []byte("pw"))
	if err == nil || !strings.Contains(err.Error(), "master key") {
		t.Errorf("a login's error does not name the master key: %v", err)
	}
}
