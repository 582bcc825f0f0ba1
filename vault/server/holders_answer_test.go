package server

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/vault"
	"github.com/chatsafe/chatsafe/vault/client"
)

// TestShareHoldersRefusalDoesNotHideErasure: a node that refuses a login
// before counting, because it sees too few share holders answer, is a
// node failure; a later node's answer is the vault's. When that answer is
// that the record is erased, the login ends with vault.ErrErased, not with
// the first node's "try again". A node of a cluster whose other two nodes
// are down stands in for a node cut off from the share holders (and behind
// on the erasure); a single node on which bob's record is erased, for a
// node that is not.
func TestShareHoldersRefusalDoesNotHideErasure(t *testing.T) {
	tc := startCluster(t, 3, nil)
	tc.stop(1)
	tc.stop(2)
	one := startVault(t, t.TempDir(), nil)
	ctx := context.Background()
	if err := reg(one.client(), ctx, "bob", []byte("right"), newKey(t)); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := rec(one.client(), ctx, "bob", []byte("wrong")); !errors.Is(err, vault.ErrWrongPassword) {
			t.Fatalf("want a wrong password, got %v", err)
		}
	}
	var pems []byte
	for _, f := range []string{tc.caFile, filepath.Join(one.dir, TLSCertFile)} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pems = append(pems, b...)
	}
	ca := filepath.Join(t.TempDir(), "both.pem")
	if err := os.WriteFile(ca, pems, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Options{URLs: []string{tc.urls[0], one.url}, CAFile: ca, Timeout: 20 * time.Second, KSFParameters: testKSF})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	tc.nodes[0].conns = append(tc.nodes[0].conns, c)
	one.conns = append(one.conns, c)
	_, err = rec(c, ctx, "bob", []byte("right"))
	if !errors.Is(err, vault.ErrErased) {
		t.Fatalf("Recover: %v, want vault.ErrErased", err)
	}
}

// TestWrongMasterKeyNodeStartsOnceKeyCopied: a node joined with a master
// key of its own cannot set up, and says to copy master.key from a node
// of the cluster and restart it. Doing just that sets it up: the key it
// started with left nothing behind that the cluster's key does not open.
func TestWrongMasterKeyNodeStartsOnceKeyCopied(t *testing.T) {
	wrong := true
	tc := startCluster(t, 2, func(c *ServerConfig) {
		if c.Cluster.NodeID != "3" || !wrong {
			return
		}
		mk, err := OpenFileMasterKey(filepath.Join(t.TempDir(), MasterKeyFileName))
		if err != nil {
			t.Fatal(err)
		}
		c.MasterKey = mk
	})
	three := tc.joinStart(0)
	tc.stop(three)
	// The operator copies the cluster's master.key (joinStart put it in
	// node 3's data directory; the node used another) and restarts it.
	wrong = false
	tc.restart(three)
	tc.waitReady()
	tc.syncAll()
	ctx := context.Background()
	key := newKey(t)
	if err := reg(tc.client(three, 0, 1), ctx, "dave", []byte("pw"), key); err != nil {
		t.Fatal(err)
	}
	tc.syncAll()
	if got, err := rec(tc.client(three), ctx, "dave", []byte("pw")); err != nil || got != key {
		t.Fatalf("login through node 3: %v", err)
	}
}

// TestFewHoldersRefusalSameForStrangers: after node 3 is replaced by node
// 4 and node 1 stops, alice's owner is refused before counting (her shares
// are on nodes 1, 2 and 3), but a login without her handle is answered as
// one for a name nobody registered (checked against the current share
// nodes): the refusal does not tell a stranger that alice exists, and the
// stranger spends none of her attempts.
func TestFewHoldersRefusalSameForStrangers(t *testing.T) {
	tc := startCluster(t, 3, nil)
	ctx := context.Background()
	if err := reg(tc.client(), ctx, "alice", []byte("right"), newKey(t)); err != nil {
		t.Fatal(err)
	}
	tc.syncAll()
	tc.stop(2)
	tc.waitLeader(true)
	if _, err := ClusterMembers(ctx, tc.admin(0), MembersRequest{Op: "remove", ID: "3"}); err != nil {
		t.Fatalf("members remove 3: %v", err)
	}
	four := tc.join(0)
	tc.syncAll()
	tc.stop(0)
	tc.waitLeader(true)
	c := tc.client(1, four)
	if _, err := rec(c, ctx, "alice", []byte("right")); !errors.Is(err, vault.ErrFewShareHolders) {
		t.Fatalf("alice's owner: %v, want the refusal before counting", err)
	}
	for _, name := range []string{"alice", "zed"} {
		_, err := c.Recover(ctx, name, []byte("guess"), vault.Handle{})
		if errors.Is(err, vault.ErrFewShareHolders) || !errors.Is(err, vault.ErrWrongPassword) {
			t.Errorf("a stranger's login to %q: %v, want a wrong password", name, err)
		}
	}
	tc.restart(0)
	tc.waitReady()
	tc.waitLeader(true)
	tc.syncAll()
	_, err := rec(tc.client(0, 1, four), ctx, "alice", []byte("wrong"))
	if left := wrongLeft(t, err); left != DefaultMaxAttempts-1 {
		t.Fatalf("alice's owner after the strangers: %d attempts left, want %d", left, DefaultMaxAttempts-1)
	}
}
