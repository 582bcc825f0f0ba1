package server

import (
	"context"
	"errors"
	"fmt"
	"net/rpc"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// applyGate holds a node's state machine back: while held, the batch raft
// hands it waits until the gate opens, as on a node whose disk is slow.
type applyGate struct {
	held    atomic.Bool
	release chan struct{}
	once    sync.Once
}

func newApplyGate() *applyGate { return &applyGate{release: make(chan struct{})} }

func (g *applyGate) wait() {
	if g.held.Load() {
		<-g.release
	}
}

func (g *applyGate) open() { g.once.Do(func() { g.held.Store(false); close(g.release) }) }

// testWindow is the request-id window of the lagging-follower tests: the
// real one (32768 entries) would take minutes of commits to outrun.
const testWindow = 64

// A follower far behind the log (its state machine held, so that raft's
// queue to it fills and it stops taking entries: a slow disk, a node
// catching up after a restart) forwards a wrong password. The change is
// fresh: the window must not refuse it because the follower's own view of
// the log is old. It is counted once, on every replica, and the client
// hears "9 attempts left".
func TestClusterLaggingFollowerAttemptCountsOnce(t *testing.T) {
	gates := map[string]*applyGate{"1": newApplyGate(), "2": newApplyGate(), "3": newApplyGate()}
	tc := startCluster(t, 3, func(c *ServerConfig) {
		c.Cluster.dedupWindow = testWindow
		c.Cluster.beforeApply = gates[c.Cluster.NodeID].wait
	})
	ctx := context.Background()
	if err := reg(tc.client(), ctx, "erin", []byte("right"), newKey(t)); err != nil {
		t.Fatalf("Register: %v", err)
	}
	tc.syncAll()
	f := (tc.leader() + 1) % 3
	fn := tc.nodes[f].srv.node
	g := gates[fn.id]
	g.held.Store(true)
	t.Cleanup(g.open) // before the nodes stop: raft waits for its state machine
	since := fn.fsm.appliedNow()

	o := tc.nodes[(f+1)%3].srv.node // another node, leader or not
	outrunFollower(t, o, fn, testWindow)
	if fn.fsm.appliedNow() != since {
		t.Fatalf("the held follower applied up to %d (from %d)", fn.fsm.appliedNow(), since)
	}
	// Nothing the follower knows is recent enough: only the leader's
	// commit index makes the change fresh.
	if fn.committedNow()+testWindow >= o.raft.CommitIndex() {
		t.Fatalf("the follower knows entry %d committed, the others %d: not a window behind", fn.committedNow(), o.raft.CommitIndex())
	}

	_, err := rec(tc.client(f), ctx, "erin", []byte("wrong"))
	if left := wrongLeft(t, err); left != DefaultMaxAttempts-1 {
		t.Fatalf("one wrong password through a lagging follower: %d attempts left, want %d", left, DefaultMaxAttempts-1)
	}
	g.open()
	tc.syncAll()
	for i, tv := range tc.nodes {
		st, _, err := tv.srv.store.view(tv.srv.eng.Load().accountID("erin"))
		if err != nil {
			t.Fatal(err)
		}
		if st.Attempts != 1 || st.Erased {
			t.Fatalf("node %d counts %d attempts (erased %v), want 1", i+1, st.Attempts, st.Erased)
		}
	}
}

// outrunFollower commits entries through node o (expiries that find
// nothing to expire; o forwards them to the leader and waits out
// elections) until follower f's raft log is more than lag entries behind
// o's commit index. f's state machine must be held: raft then stops taking
// entries on f once its queue to the state machine is full (128 batches).
func outrunFollower(t *testing.T, o, f *raftNode, lag uint64) {
	t.Helper()
	nothing := Command{Op: OpExpire, Now: 1, TTL: time.Hour.Milliseconds()}
	for i := 0; o.raft.CommitIndex() <= f.raft.LastIndex()+lag; i++ {
		if i == 2000 {
			t.Fatalf("after %d entries the follower's log stands at %d, the others' commit index at %d", i, f.raft.LastIndex(), o.raft.CommitIndex())
		}
		if _, err := o.Apply(context.Background(), nothing); err != nil {
			t.Fatalf("committing an entry: %v", err)
		}
	}
}

// The leader's refusal crosses the internal RPC as text and comes back as
// the same error, which a caller that cannot retry sees as errTooLate; a
// connection closed with a call in flight may have carried the change.
func TestBehindErrorCrossesRPC(t *testing.T) {
	b, ok := parseBehind((&behindError{commit: 1234567}).Error())
	if !ok || b.commit != 1234567 {
		t.Fatalf("parseBehind: %v %v", b, ok)
	}
	if _, ok := parseBehind(behindPrefix + "12x"); ok {
		t.Fatal("a malformed index parsed")
	}
	if !errors.Is(b, errTooLate) || errors.Is(b, errNoQuorum) {
		t.Fatal("a behind refusal is not errTooLate")
	}
	for _, c := range []struct {
		err   error
		maybe bool
	}{
		{b, false},
		{errNotProposed, false},
		{fmt.Errorf("%w (node x: %w)", errNotProposed, rpc.ErrShutdown), true},
		{fmt.Errorf("%w (node x did not answer)", errNoQuorum), true},
		{errors.New("vault node x: something"), true},
	} {
		if got := mayBeInLog(c.err); got != c.maybe {
			t.Errorf("mayBeInLog(%v) = %v, want %v", c.err, got, c.maybe)
		}
	}
}

// A node takes the leader's commit index as its change's Since only while
// every try so far was refused before proposing; after one whose outcome
// is open, an earlier copy may be in the log and the Since stays.
func TestSinceFresherOnlyWhileNoCopySent(t *testing.T) {
	behind := &behindError{commit: 500}
	notProposed := fmt.Errorf("%w (node x is no longer the leader)", errNotProposed)
	inFlight := fmt.Errorf("%w (node x: %w)", errNotProposed, rpc.ErrShutdown)
	timeout := fmt.Errorf("%w (node x did not answer)", errNoQuorum)
	for _, c := range []struct {
		name  string
		tries []error
		want  uint64
		again bool // the last try's answer: send again with the new since
	}{
		{"refused at once", []error{behind}, 500, true},
		{"after tries refused before proposing", []error{errNotProposed, notProposed, behind}, 500, true},
		{"twice", []error{behind, &behindError{commit: 900}}, 900, true},
		{"after a timeout", []error{timeout, behind}, 7, false},
		{"after a connection closed with the call in flight", []error{inFlight, behind}, 7, false},
		{"after a refusal, then a timeout", []error{behind, timeout, &behindError{commit: 900}}, 500, false},
	} {
		k := sinceKeeper{since: 7}
		last := false
		for _, err := range c.tries {
			last = k.failed(err)
		}
		if last != c.again || k.since != c.want {
			t.Errorf("%s: since %d (send again: %v), want %d", c.name, k.since, last, c.want)
		}
	}
}
