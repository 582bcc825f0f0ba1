package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/vault"
)

func beginRaw(t *testing.T, tv *testVault, req vault.LoginBeginReq) vault.LoginBeginResp {
	t.Helper()
	status, body := rawPost(t, tv, tv.url+vault.PathLoginBegin, req)
	if status != http.StatusOK {
		t.Fatalf("login/begin: %d %s", status, body)
	}
	var r vault.LoginBeginResp
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestEvalOnlyForCountedAttempt: a node evaluates its share only on an
// element whose attempt is committed for that account and handle; the
// begin node gathers the other share itself, and another node gives the
// same element's evaluation to the client as well.
func TestEvalOnlyForCountedAttempt(t *testing.T) {
	tc := startCluster(t, 3, nil)
	ctx := context.Background()
	if err := reg(tc.client(), ctx, "gina", []byte("pw"), newKey(t)); err != nil {
		t.Fatal(err)
	}
	b1 := vault.NewTOPRFBlind("gina", []byte("guess"))
	r := beginRaw(t, tc.nodes[0], vault.LoginBeginReq{Account: "gina", Blinded: b1.Blinded, Handle: handleBytes("gina")})
	if r.Threshold != 2 || r.Eval == nil || len(r.Evals) < 1 || r.Index == 0 {
		t.Fatalf("begin answer: t=%d eval=%v peers=%d index=%d", r.Threshold, r.Eval != nil, len(r.Evals), r.Index)
	}
	eval := func(node int, blinded, handle []byte) (int, []byte) {
		return rawPost(t, tc.nodes[node], tc.nodes[node].url+vault.PathLoginEval, vault.LoginEvalReq{Account: "gina", Blinded: blinded, Handle: handle, Index: r.Index})
	}
	// Every node gives the client, for the counted element, the evaluation
	// it gave the begin node.
	all := append([]vault.Eval{{X: r.X, Element: r.Eval}}, r.Evals...)
	for node := range 3 {
		status, body := eval(node, b1.Blinded, handleBytes("gina"))
		if status != http.StatusOK {
			t.Fatalf("node %d, eval of a counted element: %d %s", node+1, status, body)
		}
		var er vault.LoginEvalResp
		if err := json.Unmarshal(body, &er); err != nil {
			t.Fatal(err)
		}
		for _, e := range all {
			if e.X == er.X && !bytes.Equal(e.Element, er.Eval) {
				t.Fatalf("node %d gave the client another evaluation than it gave the begin node", node+1)
			}
		}
	}
	// A guess whose attempt was never counted gets nothing, from any node.
	b2 := vault.NewTOPRFBlind("gina", []byte("another guess"))
	for node := range 3 {
		if status, body := eval(node, b2.Blinded, handleBytes("gina")); status != http.StatusConflict {
			t.Fatalf("node %d evaluated an uncounted element: %d %s", node+1, status, body)
		}
	}
	// Without the handle the counted element is on the shadow row, not
	// the account's: nothing either.
	if status, body := eval(1, b1.Blinded, nil); status != http.StatusConflict {
		t.Fatalf("eval without the handle: %d %s", status, body)
	}
}

// TestThresholdLoginWithANodeDown: two of three nodes are enough, whether
// the client lists all of them or only one that is up.
func TestThresholdLoginWithANodeDown(t *testing.T) {
	tc := startCluster(t, 3, nil)
	ctx := context.Background()
	key := newKey(t)
	if err := reg(tc.client(), ctx, "hank", []byte("pw"), key); err != nil {
		t.Fatal(err)
	}
	tc.syncAll()
	tc.stop(2)
	tc.waitLeader(true)
	for _, c := range [][]int{{2, 0, 1}, {0}, {1}} {
		got, err := rec(tc.client(c...), ctx, "hank", []byte("pw"))
		if err != nil || got != key {
			t.Fatalf("login through nodes %v with node 3 down: %v", c, err)
		}
	}
	if _, err := rec(tc.client(0), ctx, "hank", []byte("wrong")); !errors.As(err, new(vault.WrongPasswordError)) {
		t.Fatalf("wrong password: %v", err)
	}
}

// TestUnknownNameLooksThresholded: an unknown name is answered with the
// same threshold, a share index and a stable evaluation, like a real one.
func TestUnknownNameLooksThresholded(t *testing.T) {
	tc := startCluster(t, 3, nil)
	b := vault.NewTOPRFBlind("nobody", []byte("x"))
	r1 := beginRaw(t, tc.nodes[0], vault.LoginBeginReq{Account: "nobody", Blinded: b.Blinded})
	r2 := beginRaw(t, tc.nodes[0], vault.LoginBeginReq{Account: "nobody", Blinded: b.Blinded})
	if r1.Threshold != 2 || r1.X < 1 || len(r1.Evals) < 1 || !bytes.Equal(r1.Eval, r2.Eval) {
		t.Fatalf("unknown name: t=%d x=%d peers=%d stable=%v", r1.Threshold, r1.X, len(r1.Evals), bytes.Equal(r1.Eval, r2.Eval))
	}
	// Any two nodes' fake shares interpolate the same fake key.
	var evals []vault.Eval
	for node := range 3 {
		status, body := rawPost(t, tc.nodes[node], tc.nodes[node].url+vault.PathLoginEval, vault.LoginEvalReq{Account: "nobody", Blinded: b.Blinded, Index: r2.Index})
		var er vault.LoginEvalResp
		if status != http.StatusOK || json.Unmarshal(body, &er) != nil {
			t.Fatalf("node %d: %d %s", node+1, status, body)
		}
		evals = append(evals, vault.Eval{X: er.X, Element: er.Eval})
	}
	k12, err := b.Finish(evals[:2])
	if err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][]vault.Eval{{evals[0], evals[2]}, {evals[1], evals[2]}} {
		if k, err := b.Finish(pair); err != nil || !bytes.Equal(k, k12) {
			t.Fatalf("two pairs of fake shares disagree: %v", err)
		}
	}
}

// TestAccountsBeforeThresholdOPRF: an account registered with the password
// going to OPAQUE as is still logs in with today's client (login/begin
// answers threshold 0), and its attempts count once per login.
func TestAccountsBeforeThresholdOPRF(t *testing.T) {
	tv := startVault(t, t.TempDir(), nil)
	ctx := context.Background()
	key := newKey(t)
	if err := reg(tv.legacyClient(), ctx, "ivan", []byte("pw"), key); err != nil {
		t.Fatal(err)
	}
	c := tv.client()
	var wp vault.WrongPasswordError
	if _, err := rec(c, ctx, "ivan", []byte("nope")); !errors.As(err, &wp) || wp.Left != DefaultMaxAttempts-1 {
		t.Fatalf("wrong password: %v", err)
	}
	if got, err := rec(c, ctx, "ivan", []byte("pw")); err != nil || got != key {
		t.Fatalf("old account with today's client: %v", err)
	}
	b := vault.NewTOPRFBlind("ivan", []byte("pw"))
	if r := beginRaw(t, tv, vault.LoginBeginReq{Account: "ivan", Blinded: b.Blinded, Handle: handleBytes("ivan")}); r.Threshold != 0 || r.Eval != nil {
		t.Fatalf("old account: threshold %d", r.Threshold)
	}
}

// TestRemovedNodeGetsNoNewShares: after a node leaves the membership, new
// registrations share their key among the remaining members only (2 of 2
// here: the threshold stays a majority of the members), and accounts
// registered before keep logging in with the two shares that remain.
func TestRemovedNodeGetsNoNewShares(t *testing.T) {
	tc := startCluster(t, 3, nil)
	ctx := context.Background()
	key := newKey(t)
	if err := reg(tc.client(), ctx, "kim", []byte("pw"), key); err != nil {
		t.Fatal(err)
	}
	l := tc.leader()
	gone := (l + 1) % 3
	keep := 3 - l - gone
	opts := AdminOptions{Addr: tc.raft[l], CAFile: tc.caFile, CertFile: filepath.Join(tc.dirs[l], TLSCertFile), KeyFile: filepath.Join(tc.dirs[l], tlsKeyFile), Timeout: 10 * time.Second}
	if _, err := ClusterMembers(ctx, opts, MembersRequest{Op: "remove", ID: tc.peers[gone].ID}); err != nil {
		t.Fatal(err)
	}
	tc.stop(gone)
	if err := reg(tc.client(keep, l), ctx, "lee", []byte("pw"), key); err != nil {
		t.Fatal(err)
	}
	tc.syncAll()
	srv := tc.nodes[keep].srv
	eng := srv.eng.Load()
	id := eng.accountID("lee")
	st, _, err := srv.store.view(id)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := eng.openSecrets(srv.mk, id, st.Sealed)
	if err != nil {
		t.Fatal(err)
	}
	if sec.Threshold != 2 || len(sec.Shares) != 2 || slices.ContainsFunc(sec.Shares, func(s vault.SealedShare) bool { return s.Node == tc.peers[gone].ID }) {
		t.Fatalf("after the removal: %d shares, threshold %d", len(sec.Shares), sec.Threshold)
	}
	for _, acct := range []string{"kim", "lee"} {
		if got, err := rec(tc.client(keep), ctx, acct, []byte("pw")); err != nil || got != key {
			t.Fatalf("%s after the removal: %v", acct, err)
		}
	}
}

// TestAttemptOvertakenByErasure: a login whose attempt was counted, but
// whose record the attempt limit erased (another login's last attempt)
// before its second share was asked for, learns that the record is
// erased, from the begin node's gathering and from login/eval alike,
// rather than "no counted attempt" or a shortfall of shares.
func TestAttemptOvertakenByErasure(t *testing.T) {
	tc := startCluster(t, 3, nil)
	ctx := context.Background()
	if err := reg(tc.client(), ctx, "ivy", []byte("pw"), newKey(t)); err != nil {
		t.Fatal(err)
	}
	var begins []vault.LoginBeginResp
	var blinds [][]byte
	for range DefaultMaxAttempts {
		b := vault.NewTOPRFBlind("ivy", []byte("guess"))
		begins = append(begins, beginRaw(t, tc.nodes[0], vault.LoginBeginReq{Account: "ivy", Blinded: b.Blinded, Handle: handleBytes("ivy")}))
		blinds = append(blinds, b.Blinded)
	}
	if left := begins[len(begins)-1].AttemptsLeft; left != 0 {
		t.Fatalf("attempts left after %d begins: %d", DefaultMaxAttempts, left)
	}
	// The last attempt's login ends: the record is erased, while the
	// first attempt's login still waits for its second share.
	if status, body := rawPost(t, tc.nodes[0], tc.nodes[0].url+vault.PathLoginAbort, vault.LoginAbortReq{Session: begins[len(begins)-1].Session}); status != http.StatusOK {
		t.Fatalf("login/abort: %d %s", status, body)
	}
	tc.syncAll()
	first := EvalArgs{Account: "ivy", Handle: handleBytes("ivy"), Blinded: blinds[0], Index: begins[0].Index}
	for node := range 3 {
		status, body := rawPost(t, tc.nodes[node], tc.nodes[node].url+vault.PathLoginEval, vault.LoginEvalReq{Account: first.Account, Blinded: first.Blinded, Handle: first.Handle, Index: first.Index})
		var er vault.ErrorResp
		if status != http.StatusGone || json.Unmarshal(body, &er) != nil || er.Error != vault.CodeErased {
			t.Fatalf("node %d, login/eval after the erasure: %d %s, want 410 %s", node+1, status, body, vault.CodeErased)
		}
	}
	evs, err := tc.nodes[0].srv.peerEvals(ctx, first, 1)
	if len(evs) != 0 || !errors.Is(err, vault.ErrErased) {
		t.Fatalf("the begin node's gathering after the erasure: %d shares, %v; want none and vault.ErrErased", len(evs), err)
	}
}
