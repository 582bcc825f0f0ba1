package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chatsafe/chatsafe/vault"
	"github.com/chatsafe/chatsafe/vault/client"
)

// lostAnswers loses a node's answers to one path while armed: the handler
// runs in full (a login/begin counts its attempt and commits it on the
// quorum), then the stream is reset instead of answered, as when the
// connection breaks or the client times out after the node did its work.
type lostAnswers struct {
	path   string
	armed  atomic.Bool
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
		next.ServeHTTP(httptest.NewRecorder(), r)
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
	c, err := client.New(client.Options{URLs: tc.urls, CAFile: tc.caFile, KSFParameters: testKSF, NoThresholdOPRF: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tv := range tc.nodes {
		tv.conns = append(tv.conns, c)
	}
	key := newKey(t)
	if err := reg(c, ctx, "quinn", []byte("right"), key); err != nil {
		t.Fatalf("Register: %v", err)
	}
	losses["1"].armed.Store(true)
	_, err = rec(c, ctx, "quinn", []byte("wrong"))
	if left := wrongLeft(t, err); left != DefaultMaxAttempts-1 {
		t.Fatalf("one wrong password whose first answer was lost: %d attempts left, want %d", left, DefaultMaxAttempts-1)
	}
	got, err := rec(c, ctx, "quinn", []byte("right"))
	if err != nil || got != key {
		t.Fatalf("the right password, first answer lost: %v (key matches %v)", err, got == key)
	}
}
