package server

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/bytemare/ecc"
	"github.com/bytemare/opaque"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/chatsafe/chatsafe/vault"
)

func steal(t *testing.T, dir, node, account string) (*engine, *accountSecrets, [32]byte, MasterKey, func(vault.SealedShare, int) (*ecc.Scalar, error)) {
	t.Helper()
	ctx := context.Background()
	mk, err := OpenFileMasterKey(filepath.Join(dir, MasterKeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	st, err := OpenStore(dir, DefaultMaxAttempts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng, err := newEngine(ctx, st, mk)
	if err != nil {
		t.Fatal(err)
	}
	id := eng.accountID(account)
	row, found, err := st.view(id)
	if err != nil || !found {
		t.Fatalf("the stolen database has no row for %q: %v", account, err)
	}
	var sec *accountSecrets
	if row.Sealed != nil {
		if sec, err = eng.openSecrets(mk, id, row.Sealed); err != nil {
			t.Fatal(err)
		}
	}
	sk, err := loadOrCreateShareKey(dir, node, mk, true)
	if err != nil {
		t.Fatal(err)
	}
	open := func(s vault.SealedShare, th int) (*ecc.Scalar, error) { return vault.OpenShare(sk, account, s, th) }
	return eng, sec, id, mk, open
}

// confirms is the offline check a thief runs: a whole OPAQUE login against
// the stolen record with a candidate (hardened) password, no vault involved.
func confirms(t *testing.T, eng *engine, sec *accountSecrets, id [32]byte, account string, pw []byte) bool {
	t.Helper()
	oc, err := vault.OpaqueConfig().Client()
	if err != nil {
		t.Fatal(err)
	}
	ke1, err := oc.GenerateKE1(pw)
	if err != nil {
		t.Fatal(err)
	}
	ke2, _, err := eng.ke2(ke1, account, id, sec)
	if err != nil {
		t.Fatal(err)
	}
	ke2m, err := oc.Deserialize.KE2(ke2)
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = oc.GenerateKE3(ke2m, []byte(account), nil, &opaque.ClientOptions{KSFParameters: testKSF})
	return err == nil
}

// TestOneNodeDirectoryCannotConfirmPassword hands an attacker one node's
// whole data directory, master key included, and the right password: with
// everything on that disk the password cannot be confirmed, because the
// record is of the hardened password and only one share of its key opens.
// With a second node's directory the same offline check succeeds: the test
// can fail, and says what the threshold buys.
func TestOneNodeDirectoryCannotConfirmPassword(t *testing.T) {
	tc := startCluster(t, 3, nil)
	ctx := context.Background()
	pw := []byte("correct horse battery staple")
	if err := reg(tc.client(0), ctx, "alice", pw, newKey(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := rec(tc.client(1), ctx, "alice", pw); err != nil {
		t.Fatalf("a client listing one node logs in (its node gathers the other share): %v", err)
	}
	tc.syncAll()
	for i := range tc.nodes {
		tc.stop(i)
	}

	eng, sec, id, _, open1 := steal(t, tc.dirs[0], "1", "alice")
	if sec.Threshold != 2 || len(sec.Shares) != 3 {
		t.Fatalf("account shared %d of %d, want 2 of 3", sec.Threshold, len(sec.Shares))
	}
	var own *ecc.Scalar
	var ownX int
	for _, sh := range sec.Shares {
		s, err := open1(sh, sec.Threshold)
		if sh.Node != "1" {
			if err == nil {
				t.Fatalf("node 1's directory opens node %s's share", sh.Node)
			}
			continue
		}
		if err != nil {
			t.Fatalf("node 1's own share does not open: %v", err)
		}
		own, ownX = s, sh.X
	}
	if confirms(t, eng, sec, id, "alice", pw) {
		t.Fatal("the password itself confirms against the stolen record")
	}
	if confirms(t, eng, sec, id, "alice", vault.TOPRFDirect(own, "alice", pw)) {
		t.Fatal("one share taken as the key confirms the password")
	}

	// A second directory: the two shares interpolate the key.
	_, sec2, _, _, open2 := steal(t, tc.dirs[1], "2", "alice")
	var other *ecc.Scalar
	var otherX int
	for _, sh := range sec2.Shares {
		if sh.Node == "2" {
			s, err := open2(sh, sec2.Threshold)
			if err != nil {
				t.Fatal(err)
			}
			other, otherX = s, sh.X
		}
	}
	xs := []int{ownX, otherX}
	l0, _ := vault.Lagrange(xs, 0)
	l1, _ := vault.Lagrange(xs, 1)
	k := l0.Multiply(own).Add(l1.Multiply(other))
	if !confirms(t, eng, sec, id, "alice", vault.TOPRFDirect(k, "alice", pw)) {
		t.Fatal("two nodes' shares do not confirm the right password: the offline check is broken")
	}
	if confirms(t, eng, sec, id, "alice", vault.TOPRFDirect(k, "alice", []byte("wrong"))) {
		t.Fatal("a wrong password confirms")
	}
}

// TestErasedSharesNotInOneNodeLog erases an account by wrong passwords and
// searches one node's raft log, snapshots and database for its shares:
// the database holds none, and the log and a snapshot from before the
// erasure hold the shares sealed to each node, of which that node's
// directory opens only its own — below the threshold.
func TestErasedSharesNotInOneNodeLog(t *testing.T) {
	tc := startCluster(t, 3, nil)
	ctx := context.Background()
	pw := []byte("pw")
	if err := reg(tc.client(0), ctx, "erin", pw, newKey(t)); err != nil {
		t.Fatal(err)
	}
	tc.syncAll()
	// A snapshot from before the erasure, on node 1.
	if err := tc.nodes[0].srv.node.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	c := tc.client(0)
	for range DefaultMaxAttempts {
		if _, err := rec(c, ctx, "erin", []byte("nope")); !errors.Is(err, vault.ErrWrongPassword) {
			t.Fatalf("want a wrong password, got %v", err)
		}
	}
	if _, err := rec(c, ctx, "erin", pw); !errors.Is(err, vault.ErrErased) {
		t.Fatalf("after the limit: %v, want erased", err)
	}
	tc.syncAll()
	for i := range tc.nodes {
		tc.stop(i)
	}
	dir := tc.dirs[0]
	eng, sec, id, mk, open := steal(t, dir, "1", "erin")
	if sec != nil {
		t.Fatal("the erased row still holds sealed secrets")
	}
	opened, seen := 0, 0
	try := func(sealed []byte) {
		s, err := eng.openSecrets(mk, id, sealed)
		if err != nil {
			return
		}
		for _, sh := range s.Shares {
			seen++
			if _, err := open(sh, s.Threshold); err == nil {
				if sh.Node != "1" {
					t.Fatalf("node 1 opens node %s's share from its log", sh.Node)
				}
				opened++
			}
		}
		if s.Threshold < 2 {
			t.Fatalf("threshold %d", s.Threshold)
		}
	}
	logs, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, RaftDir, "raft.db")})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := logs.FirstIndex()
	last, _ := logs.LastIndex()
	for i := first; i <= last && i > 0; i++ {
		var l raft.Log
		if logs.GetLog(i, &l) != nil || l.Type != raft.LogCommand {
			continue
		}
		var cmd Command
		if json.Unmarshal(l.Data, &cmd) == nil && cmd.Op == OpRegister && cmd.Account == id {
			try(cmd.Sealed)
		}
	}
	logs.Close()
	snaps, _ := filepath.Glob(filepath.Join(dir, RaftDir, "snapshots", "*", "state.bin"))
	if len(snaps) == 0 {
		t.Fatal("no snapshot on node 1")
	}
	for _, p := range snaps {
		db, err := bolt.Open(p, 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		db.View(func(tx *bolt.Tx) error {
			if v := tx.Bucket(bucketAccounts).Get(id[:]); v != nil {
				var st accountState
				if json.Unmarshal(v, &st) == nil && st.Sealed != nil {
					try(st.Sealed)
				}
			}
			return nil
		})
		db.Close()
	}
	if seen == 0 {
		t.Fatal("found no sealed shares in the log or snapshot: the search is broken")
	}
	if opened == 0 {
		t.Fatal("node 1's own share does not open: the search is broken")
	}
}
