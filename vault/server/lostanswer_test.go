package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/vault"
	"github.com/chatsafe/chatsafe/vault/client"
)

// lostAnswers loses a node's answers to one path while armed: the handler
// runs in full (a login/begin counts its attempt and commits it on the
// quorum), then the stream is reset instead of answered, as when the
// connection breaks or the client times out after the node did its work.
// With early set the request is lost instead: the handler does not run.
// With once set it disarms itself after one loss.
type lostAnswers struct {
	path   string
	armed  atomic.Bool
	once   atomic.Bool
	early  atomic.Bool
	lost   atomic.Int32
	mu     sync.Mutex
	bodies [][]byte // the requests whose answers were lost
}

func (l *lostAnswers) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != l.path || !l.armed.Load() {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if !l.early.Load() {
			next.ServeHTTP(httptest.NewRecorder(), r)
		}
		if l.once.Load() {
			l.armed.Store(false)
		}
		l.lost.Add(1)
		l.mu.Lock()
		l.bodies = append(l.bodies, body)
		l.mu.Unlock()
		panic(http.ErrAbortHandler) // resets the stream: no answer arrives
	})
}

// lossyCluster starts a 3-node cluster whose nodes can each lose their
// answers to path.
func lossyCluster(t *testing.T, path string) (*testCluster, map[string]*lostAnswers) {
	losses := map[string]*lostAnswers{}
	for i := range 3 {
		losses[fmt.Sprint(i+1)] = &lostAnswers{path: path}
	}
	tc := startCluster(t, 3, func(c *ServerConfig) { c.wrap = losses[c.Cluster.NodeID].wrap })
	return tc, losses
}

// rowAttempts is the attempts the account's row counts on every node
// (they must agree), and whether it is erased.
func rowAttempts(t *testing.T, tc *testCluster, account string) (int, bool) {
	t.Helper()
	tc.syncAll()
	attempts, erased := -1, false
	for i, tv := range tc.nodes {
		st, _, err := tv.srv.store.view(tv.srv.eng.Load().accountID(account))
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && (st.Attempts != attempts || st.Erased != erased) {
			t.Fatalf("node %d counts %d attempts (erased %v), node 1 %d (%v)", i+1, st.Attempts, st.Erased, attempts, erased)
		}
		attempts, erased = st.Attempts, st.Erased
	}
	return attempts, erased
}

// Every node takes the login/begin of the right password and loses its
// answer, again and again, as a flaky path between a device and the vault
// can. Each Recover (a new client each time, as the daemon's offline loop
// makes) must be the same one attempt: before, each node counted the same
// request again and each try drew a fresh blind, so four tries erased the
// owner's key without a single wrong password.
func TestLostBeginAnswersSpendOneAttempt(t *testing.T) {
	tc, losses := lossyCluster(t, vault.PathLoginBegin)
	ctx := context.Background()
	key := newKey(t)
	if err := reg(tc.client(), ctx, "olga", []byte("right"), key); err != nil {
		t.Fatalf("Register: %v", err)
	}
	for _, l := range losses {
		l.armed.Store(true)
	}
	for try := 1; try <= 4; try++ {
		_, err := rec(tc.client(), ctx, "olga", []byte("right"))
		if !errors.Is(err, vault.ErrUnreachable) || errors.Is(err, vault.ErrAttemptSpent) {
			t.Errorf("try %d, every answer lost: %v, want vault unreachable and no attempt marked spent (a later try is the same attempt)", try, err)
		}
		if n, erased := rowAttempts(t, tc, "olga"); n != 1 || erased {
			t.Errorf("after try %d of the right password whose answers were lost: %d attempts counted (erased %v), want 1", try, n, erased)
		}
	}
	if n := losses["1"].lost.Load() + losses["2"].lost.Load() + losses["3"].lost.Load(); n != 12 {
		t.Fatalf("%d answers lost, want 12 (four tries on three nodes)", n)
	}
	for _, l := range losses {
		l.armed.Store(false)
	}
	got, err := rec(tc.client(), ctx, "olga", []byte("right"))
	if err != nil || got != key {
		t.Fatalf("the right password once the answers arrive: %v (key matches %v)", err, got == key)
	}
	if n, _ := rowAttempts(t, tc, "olga"); n != 0 {
		t.Fatalf("after the success %d attempts counted, want 0", n)
	}
}

// The first node's answer to login/begin is lost; the client asks the next
// node with the same request. A wrong password costs one attempt, not two,
// and the right one logs in.
func TestLostBeginAnswerRetriedOnNextNode(t *testing.T) {
	tc, losses := lossyCluster(t, vault.PathLoginBegin)
	ctx := context.Background()
	key := newKey(t)
	if err := reg(tc.client(), ctx, "pia", []byte("right"), key); err != nil {
		t.Fatalf("Register: %v", err)
	}
	losses["1"].armed.Store(true)
	_, err := rec(tc.client(), ctx, "pia", []byte("wrong"))
	if left := wrongLeft(t, err); left != DefaultMaxAttempts-1 {
		t.Fatalf("one wrong password whose first answer was lost: %d attempts left, want %d", left, DefaultMaxAttempts-1)
	}
	got, err := rec(tc.client(), ctx, "pia", []byte("right"))
	if err != nil || got != key {
		t.Fatalf("the right password, first answer lost: %v (key matches %v)", err, got == key)
	}
	if n := losses["1"].lost.Load(); n != 2 {
		t.Fatalf("node 1 lost %d answers, want 2", n)
	}
}

// The same on the legacy path (login/start, whose KE1 is the attempt):
// the client sends the same KE1 to the next node, which takes it as the
// attempt already counted.
func TestLostLoginStartAnswerRetriedOnNextNode(t *testing.T) {
	tc, losses := lossyCluster(t, vault.PathLoginStart)
	ctx := context.Background()
	key := newKey(t)
	c := legacyAccount(t, tc, "quinn", key)
	losses["1"].armed.Store(true)
	_, err := rec(c, ctx, "quinn", []byte("wrong"))
	if left := wrongLeft(t, err); left != DefaultMaxAttempts-1 {
		t.Fatalf("one wrong password whose first answer was lost: %d attempts left, want %d", left, DefaultMaxAttempts-1)
	}
	got, err := rec(c, ctx, "quinn", []byte("right"))
	if err != nil || got != key {
		t.Fatalf("the right password, first answer lost: %v (key matches %v)", err, got == key)
	}
}

// With node 1 losing every login/begin answer (each login is counted there
// and taken again on node 2), a wrong password still costs one attempt per
// guess, the same one guessed again costs another, and ten wrong guesses
// erase the key.
func TestWrongGuessesCountWithLostAnswers(t *testing.T) {
	tc, losses := lossyCluster(t, vault.PathLoginBegin)
	ctx := context.Background()
	if err := reg(tc.client(), ctx, "rita", []byte("right"), newKey(t)); err != nil {
		t.Fatalf("Register: %v", err)
	}
	losses["1"].armed.Store(true)
	guesses := []string{"wrong", "wrong"}
	for i := range DefaultMaxAttempts - 2 {
		guesses = append(guesses, fmt.Sprint("wrong ", i))
	}
	for i, g := range guesses {
		_, err := rec(tc.client(), ctx, "rita", []byte(g))
		if left := wrongLeft(t, err); left != DefaultMaxAttempts-1-i {
			t.Fatalf("wrong guess %d (%q): %d attempts left, want %d", i+1, g, left, DefaultMaxAttempts-1-i)
		}
	}
	if n := losses["1"].lost.Load(); n != int32(len(guesses)) {
		t.Fatalf("node 1 lost %d answers, want %d", n, len(guesses))
	}
	if _, err := rec(tc.client(), ctx, "rita", []byte("right")); !errors.Is(err, vault.ErrErased) {
		t.Fatalf("the right password after ten wrong ones: %v, want erased", err)
	}
}

// tryBegin sends a login/begin the way an attacker's own client would.
func tryBegin(t *testing.T, tv *testVault, req vault.LoginBeginReq) (int, vault.LoginBeginResp) {
	t.Helper()
	status, body := rawPost(t, tv, tv.url+vault.PathLoginBegin, req)
	var resp vault.LoginBeginResp
	if status == http.StatusOK {
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
	}
	return status, resp
}

// Someone with the handle who replays a blinded element the vault counted
// (the owner's, taken from a lost answer's request, or their own) gets
// evaluations of that element only: without its blind they are worthless,
// with it they are the one guess already counted. Every other element
// costs an attempt, at login/begin; login/eval refuses it.
func TestReplayedBlindGetsNoSecondGuess(t *testing.T) {
	tc, losses := lossyCluster(t, vault.PathLoginBegin)
	ctx := context.Background()
	if err := reg(tc.client(), ctx, "rex", []byte("right"), newKey(t)); err != nil {
		t.Fatalf("Register: %v", err)
	}
	losses["1"].armed.Store(true)
	_, err := rec(tc.client(), ctx, "rex", []byte("wrong"))
	if left := wrongLeft(t, err); left != DefaultMaxAttempts-1 {
		t.Fatalf("the owner's wrong password: %d attempts left, want %d", left, DefaultMaxAttempts-1)
	}
	losses["1"].armed.Store(false)
	var owner vault.LoginBeginReq
	if err := json.Unmarshal(losses["1"].bodies[0], &owner); err != nil {
		t.Fatal(err)
	}
	status, replay := tryBegin(t, tc.nodes[2], owner)
	if status != http.StatusOK || replay.AttemptsLeft != DefaultMaxAttempts-1 {
		t.Fatalf("the owner's counted element replayed: %d, %d attempts left, want 200 and %d", status, replay.AttemptsLeft, DefaultMaxAttempts-1)
	}
	// Another element under the replay's index: refused by every node.
	guess := vault.NewTOPRFBlind("rex", []byte("right"))
	for i, tv := range tc.nodes {
		status, body := rawPost(t, tv, tv.url+vault.PathLoginEval, vault.LoginEvalReq{Account: "rex", Blinded: guess.Blinded, Handle: owner.Handle, Index: replay.Index})
		if status == http.StatusOK {
			t.Fatalf("node %d evaluated an uncounted element under a replayed attempt: %s", i+1, body)
		}
	}
	// The guess at login/begin counts.
	status, counted := tryBegin(t, tc.nodes[2], vault.LoginBeginReq{Account: "rex", Blinded: guess.Blinded, Handle: owner.Handle})
	if status != http.StatusOK || counted.AttemptsLeft != DefaultMaxAttempts-2 {
		t.Fatalf("a new element: %d, %d attempts left, want 200 and %d", status, counted.AttemptsLeft, DefaultMaxAttempts-2)
	}
	if n, _ := rowAttempts(t, tc, "rex"); n != 2 {
		t.Fatalf("%d attempts counted, want 2", n)
	}
}

// An account registered before the threshold OPRF takes KE1 of the
// password itself on the begin session, and nothing ties that KE1 to the
// element: a replayed element must get no session (it would be a free
// guess). The owner's client, whose first answer was lost, starts once
// more with a fresh element on the node that refused the replay: one more
// attempt, as before replays were taken, and the login goes on rather
// than stopping the daemon (exit 10) on one flaky node.
func TestReplayOnAccountBeforeThresholdOPRF(t *testing.T) {
	tc, losses := lossyCluster(t, vault.PathLoginBegin)
	ctx := context.Background()
	legacyAccount(t, tc, "saul", newKey(t))
	req := vault.LoginBeginReq{Account: "saul", Blinded: vault.NewTOPRFBlind("saul", []byte("guess")).Blinded, Handle: handleBytes("saul")}
	status, first := tryBegin(t, tc.nodes[0], req)
	if status != http.StatusOK || first.Threshold != 0 || first.AttemptsLeft != DefaultMaxAttempts-1 {
		t.Fatalf("first begin: %d, threshold %d, %d left", status, first.Threshold, first.AttemptsLeft)
	}
	for i, tv := range tc.nodes {
		if status, _ := tryBegin(t, tv, req); status == http.StatusOK {
			t.Fatalf("node %d gave a second session for one counted attempt", i+1)
		}
	}
	if n, _ := rowAttempts(t, tc, "saul"); n != 1 {
		t.Fatalf("%d attempts counted, want 1", n)
	}

	// Node 1 counts and loses its answer, node 2 refuses the same element
	// and counts a fresh one.
	losses["1"].armed.Store(true)
	_, err := rec(tc.client(), ctx, "saul", []byte("wrong"))
	if left := wrongLeft(t, err); left != DefaultMaxAttempts-3 {
		t.Fatalf("a wrong password, node 1's answer lost: %d attempts left, want %d (the lost one and one fresh)", left, DefaultMaxAttempts-3)
	}
	if n := losses["1"].lost.Load(); n != 1 {
		t.Fatalf("node 1 lost %d answers, want 1", n)
	}
	// Every answer lost: the next Recover (the daemon's next try, a new
	// client) sends the kept element, which node 1 refuses now; the fresh
	// one it counts instead is the only attempt that try costs.
	for _, l := range losses {
		l.armed.Store(true)
	}
	_, err = rec(tc.client(), ctx, "saul", []byte("wrong"))
	if !errors.Is(err, vault.ErrUnreachable) || errors.Is(err, vault.ErrAttemptSpent) {
		t.Fatalf("every answer lost: %v, want vault unreachable and not spent", err)
	}
	if n, _ := rowAttempts(t, tc, "saul"); n != 4 {
		t.Fatalf("%d attempts counted, want 4", n)
	}
	for _, l := range losses {
		l.armed.Store(false)
	}
	_, err = rec(tc.client(), ctx, "saul", []byte("wrong"))
	if left := wrongLeft(t, err); left != DefaultMaxAttempts-5 {
		t.Fatalf("the try after every answer was lost: %d attempts left, want %d", left, DefaultMaxAttempts-5)
	}
	if _, err := rec(tc.client(), ctx, "saul", []byte("right")); err != nil {
		t.Fatalf("the owner's next login: %v", err)
	}
}

// A begin sent again looks the same for an account (with its handle), a
// login without the handle (the shadow row) and an unknown name: the same
// status and fields, the same body size (but the raft index), the attempt
// counted once.
func TestReplayedBeginLooksAlike(t *testing.T) {
	tc := startCluster(t, 3, nil)
	if err := reg(tc.client(), context.Background(), "tess", []byte("right"), newKey(t)); err != nil {
		t.Fatalf("Register: %v", err)
	}
	type answer struct {
		status int
		size   int
		fields []string
		left   int
	}
	ask := func(req vault.LoginBeginReq) answer {
		status, body := rawPost(t, tc.nodes[1], tc.nodes[1].url+vault.PathLoginBegin, req)
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		a := answer{status: status, fields: slices.Sorted(maps.Keys(m))}
		delete(m, "index") // a raft index: its digits grow
		rest, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		a.size = len(rest)
		if v, ok := m["attempts_left"].(float64); ok {
			a.left = int(v)
		}
		return a
	}
	cases := map[string]vault.LoginBeginReq{
		"account":        {Account: "tess", Handle: handleBytes("tess")},
		"without handle": {Account: "tess"},
		"unknown name":   {Account: "tessa"},
	}
	var first answer
	for name, req := range cases {
		req.Blinded = vault.NewTOPRFBlind(req.Account, []byte("guess")).Blinded
		a, again := ask(req), ask(req)
		if a.status != http.StatusOK || a.left != DefaultMaxAttempts-1 || !reflect.DeepEqual(a, again) {
			t.Fatalf("%s: first %+v, again %+v, want 200 and %d attempts left both times", name, a, again, DefaultMaxAttempts-1)
		}
		if first.status == 0 {
			first = a
		} else if !reflect.DeepEqual(a, first) {
			t.Fatalf("%s answers %+v, another case %+v", name, a, first)
		}
	}
}

// A begin sent again spends the rate limits' tokens like a new attempt:
// replays cost no attempt, but they are not free to send.
func TestReplayedBeginIsRateLimited(t *testing.T) {
	tv := startVault(t, t.TempDir(), func(c *ServerConfig) {
		c.AccountRate, c.AccountBurst = 0.001, 3 // register/start takes one
	})
	if err := reg(tv.client(), context.Background(), "uma", []byte("right"), newKey(t)); err != nil {
		t.Fatalf("Register: %v", err)
	}
	req := vault.LoginBeginReq{Account: "uma", Handle: handleBytes("uma"), Blinded: vault.NewTOPRFBlind("uma", []byte("guess")).Blinded}
	for i, want := range []int{http.StatusOK, http.StatusOK, http.StatusTooManyRequests} {
		if status, _ := tryBegin(t, tv, req); status != want {
			t.Fatalf("begin %d of one element: %d, want %d", i+1, status, want)
		}
	}
}

// legacyAccount registers account with the password "right" and key
// through a client that logs in as before the threshold OPRF (KE1 of the
// password itself), which it returns; the cluster closes it.
func legacyAccount(t *testing.T, tc *testCluster, account string, key crypt.Key) *client.Client {
	t.Helper()
	c, err := client.New(client.Options{URLs: tc.urls, CAFile: tc.caFile, KSFParameters: testKSF, NoThresholdOPRF: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tv := range tc.nodes {
		tv.conns = append(tv.conns, c)
	}
	if err := reg(c, context.Background(), account, []byte("right"), key); err != nil {
		t.Fatalf("Register: %v", err)
	}
	return c
}
