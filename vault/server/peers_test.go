package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/rpc"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRemovedPeerRefusedOnResumption: a node is removed from the cluster
// and its certificate from the cluster CA file. A client holding its key
// and a TLS session ticket from before the removal must not get in by
// resuming that session (Go does not call VerifyPeerCertificate on a
// resumed TLS 1.3 session).
func TestRemovedPeerRefusedOnResumption(t *testing.T) {
	tc := startCluster(t, 3, nil)
	l := tc.leader()
	victim, target := (l+1)%3, (l+2)%3
	cert, err := tls.LoadX509KeyPair(filepath.Join(tc.dirs[victim], TLSCertFile), filepath.Join(tc.dirs[victim], tlsKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{
		Certificates:       []tls.Certificate{cert},
		InsecureSkipVerify: true, // this test attacks the server's check, not the client's
		MinVersion:         tls.VersionTLS13,
		ClientSessionCache: tls.NewLRUClientSessionCache(4),
	}
	var listAs func(id string) (bool, error)
	// list asks target for the members over the internal RPC, as the
	// victim's key holder; it reports whether the TLS session was resumed.
	list := func() (bool, error) { return listAs(tc.peers[victim].ID) }
	listAs = func(id string) (resumed bool, err error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", tc.raft[target])
		if err != nil {
			return false, err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write(append([]byte{muxRPC, byte(len(id))}, id...)); err != nil {
			return false, err
		}
		c := rpc.NewClient(conn)
		defer c.Close()
		var out []Member
		err = c.Call("Vault.Members", MembersRequest{Op: "list"}, &out)
		return conn.(*tls.Conn).ConnectionState().DidResume, err
	}
	if _, err := list(); err != nil {
		t.Fatalf("a member's certificate was refused: %v", err)
	}
	// The leader has replicated to target, so target pinned the leader's
	// id to the leader's key: another member's key cannot speak for it.
	tc.syncAll()
	if _, err := listAs(tc.peers[l].ID); err == nil {
		t.Fatalf("node %d's key was accepted as the leader's", victim+1)
	}

	// Remove the victim: from the membership and from the CA file.
	tc.stop(victim)
	admin := AdminOptions{Addr: tc.raft[l], CAFile: tc.caFile, CertFile: filepath.Join(tc.dirs[l], TLSCertFile), KeyFile: filepath.Join(tc.dirs[l], tlsKeyFile), Timeout: 10 * time.Second}
	if _, err := ClusterMembers(context.Background(), admin, MembersRequest{Op: "remove", ID: tc.peers[victim].ID}); err != nil {
		t.Fatalf("removing node %d: %v", victim+1, err)
	}
	var ca []byte
	for i, dir := range tc.dirs {
		if i == victim {
			continue
		}
		pem, err := os.ReadFile(filepath.Join(dir, TLSCertFile))
		if err != nil {
			t.Fatal(err)
		}
		ca = append(ca, pem...)
	}
	if err := os.WriteFile(tc.caFile, ca, 0o644); err != nil {
		t.Fatal(err)
	}
	victimPEM, _ := os.ReadFile(filepath.Join(tc.dirs[victim], TLSCertFile))
	if bytes.Contains(ca, victimPEM) {
		t.Fatal("test setup: the victim's certificate is still in the CA file")
	}

	resumed, err := list()
	if err == nil {
		t.Fatalf("a removed node's certificate was accepted again (session resumed: %v)", resumed)
	}
	// A full handshake with it is refused as well.
	cfg.ClientSessionCache = nil
	if _, err := list(); err == nil {
		t.Fatal("a removed node's certificate was accepted on a full handshake")
	}
}
