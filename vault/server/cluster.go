package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/rpc"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/chatsafe/chatsafe/vault"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.uber.org/zap"
)

// ClusterConfig makes a vault node one replica of a Raft cluster. Every
// state change (registration, each counted attempt, success, erasure,
// deletion) is a log entry committed on a quorum before the node answers.
type ClusterConfig struct {
	NodeID string // this node's id, unique in the cluster, stable across restarts
	// RaftListen is the host:port for raft and the nodes' internal RPC
	// (mutual TLS).
	RaftListen string
	// RaftAdvertise is the address other nodes reach this one at; default:
	// this node's entry in Peers, else the bound RaftListen address.
	RaftAdvertise string
	// Peers is the static bootstrap configuration, this node included. It
	// is used only on the first start of a node with an empty raft
	// directory; empty means "wait to be added" (vault members add).
	Peers []Peer
	// CAFile holds the PEM certificates a peer's certificate must chain
	// to: a cluster CA, or every node's certificate concatenated. Each node
	// presents its own HTTPS certificate (ServerConfig.TLSCert, or the
	// generated DataDir/tls/cert.pem).
	CAFile string

	// ApplyTimeout bounds the wait for a leader to take a state change
	// (default 5s); past it the node answers 503.
	ApplyTimeout time.Duration
	// Raft timing; zero takes raft's defaults (1s heartbeat and election
	// timeouts, 500ms leader lease). Tests on loopback use shorter ones.
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout time.Duration
	// SnapshotThreshold is how many log entries trigger a snapshot and log
	// compaction (default 8192); TrailingLogs how many stay after one
	// (default 10240).
	SnapshotThreshold, TrailingLogs uint64
	SnapshotInterval                time.Duration // how often to check (default 2 min)

	listener net.Listener // tests: a pre-bound RaftListen
	dial     dialFunc     // tests: how this node opens connections to peers
	// dedupWindow (tests): the request-id window in log entries instead of
	// dedupWindow, so that a test can outrun it with a few hundred
	// entries. Every node of a cluster must use the same (it is part of
	// the state machine).
	dedupWindow uint64
	// beforeApply (tests) is called before each batch of committed
	// entries is applied, so that a test can hold a node's state machine
	// back.
	beforeApply func()
}

// Peer is one voter of the bootstrap configuration.
type Peer struct {
	ID   string
	Addr string // raft host:port
}

// ParsePeers reads "1=host:port,2=host:port".
func ParsePeers(s string) ([]Peer, error) {
	var out []Peer
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, a, ok := strings.Cut(part, "=")
		if !ok || id == "" || a == "" {
			return nil, fmt.Errorf("peer %q must look like ID=host:port", part)
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("peer %q: %w", part, err)
		}
		if seen[id] {
			return nil, fmt.Errorf("peer id %q appears twice", id)
		}
		seen[id] = true
		out = append(out, Peer{ID: id, Addr: a})
	}
	return out, nil
}

// errNoQuorum is a state change the cluster cannot commit now. Nothing is
// counted loosely: an attempt without a commit gets no KE2.
var errNoQuorum = errors.New("vault has no quorum; try again later")

// raftNode is the state machine of a cluster node: reads from the local
// store, writes through the Raft log (forwarded to the leader from a
// follower).
type raftNode struct {
	id           string
	raft         *raft.Raft
	st           *Store
	fsm          *raftFSM
	stream       *streamLayer
	trans        *raft.NetworkTransport
	logStore     *raftboltdb.BoltStore
	peerClient   *tls.Config
	dial         dialFunc
	applyTimeout time.Duration
	log          *zap.Logger

	fwdMu sync.Mutex
	fwd   map[string]*rpc.Client // by leader raft address

	pins *peerPins
	// raftPtr is raft for the goroutines that may run before NewRaft
	// returns (the stream layer's pin checks).
	raftPtr atomic.Pointer[raft.Raft]
	// evalFn evaluates this node's key share for a peer (Vault.Eval); set
	// once the server is set up.
	evalFn atomic.Pointer[func(context.Context, EvalArgs) (shareEval, error)]
	// reportFn counts the accounts by share holders (Vault.Shares); set
	// with evalFn.
	reportFn atomic.Pointer[func() (ShareReport, error)]
}

// RaftDir is the raft log and snapshot directory inside the data directory.
const RaftDir = "raft"

// Apply commits cmd on a quorum and returns its result: directly on the
// leader, through the leader on a follower. Whenever the answer neither
// gives the result nor refuses the change for good (no leader known, the
// known one unreachable or no longer leading, leadership lost before the
// commit, a connection that broke before the answer came) it sends the
// change again until ApplyTimeout or ctx ends the wait. Every copy carries
// the same request id and the state machine applies a request id once
// (dedup.go), so a change the first copy did get into the log is not
// applied twice: an attempt is counted once. Since is the newest index
// this node knows committed, or the leader's while no copy can be in a
// log (since.go).
func (n *raftNode) Apply(ctx context.Context, cmd Command) (Result, error) {
	if len(cmd.Req) == 0 {
		cmd.Req = newRequestID()
		cmd.Since = n.committedNow()
	}
	k := sinceKeeper{since: cmd.Since}
	again := func(err error) bool {
		if k.failed(err) {
			cmd.Since = k.since
			return true
		}
		return n.sendAgain(cmd.Since)(err)
	}
	return n.untilLeaderAnswers(ctx, again, func() (Result, error) {
		if n.raft.State() == raft.Leader {
			if err := n.checkSince(cmd); err != nil {
				return Result{}, err
			}
			return n.applyLocal(cmd)
		}
		var res Result
		err := n.forward(ctx, "Vault.Apply", cmd, &res)
		return res, err
	})
}

// sendAgain tells which failures of a change whose window counts from
// index since are worth sending again: those that leave the outcome open
// (errNoQuorum), unless this node is shutting down, or the log has moved
// on so far that the state machine would refuse the copy (errTooLate).
func (n *raftNode) sendAgain(since uint64) func(error) bool {
	return func(err error) bool {
		return errors.Is(err, errNoQuorum) && !errors.Is(err, raft.ErrRaftShutdown) &&
			n.raft.State() != raft.Shutdown && n.committedNow() < since+n.fsm.dedupWindow()/2
	}
}

// untilLeaderAnswers runs try until it succeeds, fails in a way again does
// not accept, or ApplyTimeout has passed, pausing between tries while the
// cluster elects a leader.
func (n *raftNode) untilLeaderAnswers(ctx context.Context, again func(error) bool, try func() (Result, error)) (Result, error) {
	deadline := time.Now().Add(n.applyTimeout)
	for {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		res, err := try()
		if err == nil || !again(err) || !time.Now().Before(deadline) {
			return res, err
		}
		if err := n.pauseForElection(ctx, deadline); err != nil {
			return Result{}, err
		}
	}
}

// errNotProposed is a no-quorum answer for a change that never reached a
// leader's log.
var errNotProposed = fmt.Errorf("%w (no leader took the change)", errNoQuorum)

// notLeaderMessage is how a node that is not the leader refuses a
// forwarded change over the internal RPC (errors cross it as text).
const notLeaderMessage = "vault node is not the leader"

// electionPoll is how often a node waiting for an election looks again.
// raft's leader observations are per node and lossy; a short poll of
// LeaderWithID is simpler and bounded by the caller's deadline.
const electionPoll = 20 * time.Millisecond

// pauseForElection waits one poll interval, never past deadline, before
// the caller asks again who leads.
func (n *raftNode) pauseForElection(ctx context.Context, deadline time.Time) error {
	t := time.NewTimer(min(electionPoll, time.Until(deadline)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (n *raftNode) applyLocal(cmd Command) (Result, error) {
	data, err := json.Marshal(cmd)
	if err != nil {
		return Result{}, err
	}
	f := n.raft.Apply(data, n.applyTimeout)
	if err := f.Error(); errors.Is(err, raft.ErrNotLeader) {
		return Result{}, fmt.Errorf("%w (%w)", errNotProposed, err)
	} else if err != nil {
		// Lost leadership before the commit, or shutting down. The entry
		// may still commit later: a copy sent again is then not applied
		// (its request id is), and if no copy's answer arrives the attempt
		// is counted without a KE2 ever being sent, never the other way
		// round.
		return Result{}, fmt.Errorf("%w (%w)", errNoQuorum, err)
	}
	switch r := f.Response().(type) {
	case Result:
		r.Index = f.Index()
		return r, nil
	case error:
		return Result{}, r
	default:
		return Result{}, fmt.Errorf("vault cluster: unexpected apply response %T", r)
	}
}

// forward calls method on the leader over the internal RPC.
func (n *raftNode) forward(ctx context.Context, method string, args, reply any) error {
	leader, _ := n.raft.LeaderWithID()
	if leader == "" {
		return errNotProposed
	}
	return n.call(ctx, string(leader), method, args, reply)
}

// call calls method on the node at raft address addr (the leader, or a
// peer asked for its key share).
func (n *raftNode) call(ctx context.Context, addr, method string, args, reply any) error {
	c, err := n.rpcClient(ctx, addr)
	if err != nil { // not connected: nothing was sent
		return fmt.Errorf("%w (%v)", errNotProposed, err)
	}
	call := c.Go(method, args, reply, make(chan *rpc.Call, 1))
	t := time.NewTimer(n.applyTimeout + time.Second)
	defer t.Stop()
	select {
	case <-call.Done:
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		n.dropClient(addr, c)
		return fmt.Errorf("%w (node %s did not answer)", errNoQuorum, addr)
	}
	var se rpc.ServerError
	switch {
	case call.Error == nil:
		return nil
	case errors.As(call.Error, &se):
		if string(se) == notLeaderMessage {
			return fmt.Errorf("%w (node %s is no longer the leader)", errNotProposed, addr)
		}
		if b, ok := parseBehind(string(se)); ok {
			return b
		}
		if string(se) == vault.ErrErased.Error() { // a peer asked for its share
			return fmt.Errorf("vault node %s: %w", addr, vault.ErrErased)
		}
		if strings.HasPrefix(string(se), errNoQuorum.Error()) {
			return fmt.Errorf("%w (node %s: %s)", errNoQuorum, addr, se)
		}
		return fmt.Errorf("vault node %s: %s", addr, se)
	case errors.Is(call.Error, rpc.ErrShutdown):
		// Closed before sending, almost always. net/rpc also gives a call
		// in flight ErrShutdown when this node closed the connection
		// itself (another call's timeout dropped it) as the answer was
		// due; a change sent again is still applied once (its request id).
		n.dropClient(addr, c)
		return fmt.Errorf("%w (node %s: %w)", errNotProposed, addr, call.Error)
	default: // the connection broke, maybe after the leader took it
		n.dropClient(addr, c)
		return fmt.Errorf("%w (node %s: %w)", errNoQuorum, addr, call.Error)
	}
}

func (n *raftNode) rpcClient(ctx context.Context, leader string) (*rpc.Client, error) {
	n.fwdMu.Lock()
	defer n.fwdMu.Unlock()
	if c := n.fwd[leader]; c != nil {
		return c, nil
	}
	if n.fwd == nil {
		return nil, errors.New("node is shutting down")
	}
	dctx, cancel := context.WithTimeout(ctx, n.applyTimeout)
	defer cancel()
	conn, err := dialPeer(dctx, leader, n.peerClient, muxRPC, n.pins, n.dial)
	if err != nil {
		return nil, err
	}
	c := rpc.NewClient(conn)
	n.fwd[leader] = c
	return c, nil
}

func (n *raftNode) dropClient(leader string, c *rpc.Client) {
	n.fwdMu.Lock()
	if n.fwd[leader] == c {
		delete(n.fwd, leader)
	}
	n.fwdMu.Unlock()
	c.Close()
}

func (n *raftNode) view(account [32]byte) (accountState, bool, error) { return n.st.view(account) }
func (n *raftNode) meta(name string) ([]byte, error)                  { return n.st.meta(name) }
func (n *raftNode) localHead(cmd Command) (Result, error)             { return n.st.localHead(cmd) }

// Close stops raft (a leader steps down without handing over; the others
// elect a new one), then the network and the stores.
func (n *raftNode) Close() error {
	var errs []error
	if err := n.raft.Shutdown().Error(); err != nil {
		errs = append(errs, fmt.Errorf("stopping raft: %w", err))
	}
	n.fwdMu.Lock()
	for _, c := range n.fwd {
		c.Close()
	}
	n.fwd = nil
	n.fwdMu.Unlock()
	if err := n.trans.Close(); err != nil {
		errs = append(errs, err)
	}
	n.stream.Close()
	if err := n.logStore.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing the raft log: %w", err))
	}
	if err := n.st.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing the database: %w", err))
	}
	return errors.Join(errs...)
}

// rpcService is what a node answers over the internal RPC: the leader
// applies forwarded state changes and membership changes.
type rpcService struct{ n *raftNode }

// Apply commits a state change forwarded by a follower. Only the leader
// takes it; followers do not chain forwards.
func (s *rpcService) Apply(cmd Command, res *Result) error {
	if s.n.raft.State() != raft.Leader {
		return errors.New(notLeaderMessage)
	}
	if err := s.n.checkSince(cmd); err != nil {
		return err
	}
	r, err := s.n.applyLocal(cmd)
	if err != nil {
		return err
	}
	*res = r
	return nil
}

// Members changes or lists the cluster membership (on the leader; a
// follower forwards, and waits out an election first: a change no leader
// took is safe to send again).
func (s *rpcService) Members(req MembersRequest, res *[]Member) error {
	if s.n.raft.State() == raft.Leader {
		return s.membersHere(req, res)
	}
	if req.Forwarded {
		return errors.New(notLeaderMessage) // the follower asks again
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.n.applyTimeout+2*time.Second)
	defer cancel()
	req.Forwarded = true
	notProposed := func(err error) bool { return errors.Is(err, errNotProposed) }
	_, err := s.n.untilLeaderAnswers(ctx, notProposed, func() (Result, error) {
		if s.n.raft.State() == raft.Leader {
			return Result{}, s.membersHere(req, res)
		}
		return Result{}, s.n.forward(ctx, "Vault.Members", req, res)
	})
	return err
}

func (s *rpcService) membersHere(req MembersRequest, res *[]Member) error {
	m, err := s.n.members(req)
	if err != nil {
		return err
	}
	*res = m
	return nil
}

// zapWriter turns raft's log lines into zap warnings.
type zapWriter struct{ log *zap.Logger }

func (w zapWriter) Write(p []byte) (int, error) {
	w.log.Warn(strings.TrimSpace(string(p)))
	return len(p), nil
}
