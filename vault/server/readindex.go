package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/rpc"
	"strings"

	"github.com/hashicorp/raft"
)

// Head reads are served without a log entry (a "read index", Raft thesis
// §6.4), so that opening an installation costs no fsync on every node:
//
//  1. only the leader answers; a follower forwards the read to it over the
//     internal RPC, as it forwards state changes (one round trip more than
//     a read on the leader, no disk write anywhere);
//  2. the leader confirms it still leads (raft.VerifyLeader: a quorum
//     answers a heartbeat of its term), so a leader cut off from the
//     others, which may not know yet that it was deposed, answers nothing;
//  3. it then takes its last log index, which covers every entry committed
//     before the read began (a confirmed leader holds all of them), and
//     waits until its database has applied up to there;
//  4. it reads bbolt with the same owner and handle checks the log applies
//     (readHead, shared with applyHead).

// readHead serves an OpHead read on this node's cluster.
func (n *raftNode) readHead(ctx context.Context, cmd Command) (Result, error) {
	// A read changes nothing, so it is safe to send again whenever the
	// leader did not answer it: a cached connection that had broken (a
	// network cut, a restarted leader), an election, a leader that could
	// not confirm it leads (it steps down when a loaded machine starves
	// its heartbeats; the next leader can answer).
	unanswered := func(err error) bool {
		return errors.Is(err, errNoQuorum) || errors.Is(err, rpc.ErrShutdown) || errors.Is(err, io.ErrUnexpectedEOF)
	}
	return n.untilLeaderAnswers(ctx, unanswered, func() (Result, error) {
		if n.raft.State() == raft.Leader {
			return n.readLeader(ctx, cmd)
		}
		var res Result
		err := n.forward(ctx, "Vault.ReadHead", cmd, &res)
		if err != nil && strings.Contains(err.Error(), "can't find method Vault.ReadHead") {
			// A leader from before reads without the log: read through it.
			return n.Apply(ctx, cmd)
		}
		return res, err
	})
}

// readLeader is steps 2–4 above, on the leader.
func (n *raftNode) readLeader(ctx context.Context, cmd Command) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, n.applyTimeout)
	defer cancel()
	if err := n.verifyLeader(ctx); err != nil {
		return Result{}, err
	}
	idx := n.raft.LastIndex()
	if err := n.fsm.waitLogApplied(ctx, idx); err != nil {
		return Result{}, fmt.Errorf("%w (waiting for this node to apply the log up to entry %d: %v)", errNoQuorum, idx, err)
	}
	return n.st.readHead(ctx, cmd)
}

// verifyLeader confirms, through a quorum, that this node still leads.
func (n *raftNode) verifyLeader(ctx context.Context) error {
	err := waitFuture(ctx, n.raft.VerifyLeader())
	switch {
	case err != nil && err == ctx.Err():
		return fmt.Errorf("%w (no quorum confirmed this node leads: %v)", errNoQuorum, err)
	case err != nil:
		return fmt.Errorf("%w (this node could not confirm it leads: %v)", errNoQuorum, err)
	}
	return nil
}

// waitFuture waits for raft to answer f, or for ctx to end. Raft answers
// every future (a verification, a barrier): with its outcome, or with
// ErrLeadershipLost when it steps down or shuts down; the goroutine ends
// then even if the caller stopped waiting.
func waitFuture(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// confirmCurrent confirms that this node's database holds the whole
// committed state of the cluster: it leads, a quorum confirms it, and a
// barrier (an entry committed after every earlier one) is applied, all
// within applyTimeout. Its errors say why not, for a refusal's text.
func (n *raftNode) confirmCurrent(ctx context.Context) error {
	if n.raft.State() != raft.Leader {
		return errors.New("it is not the cluster's leader")
	}
	ctx, cancel := context.WithTimeout(ctx, n.applyTimeout)
	defer cancel()
	if err := waitFuture(ctx, n.raft.VerifyLeader()); err != nil {
		return fmt.Errorf("it could not confirm it leads the cluster (%w)", err)
	}
	if err := waitFuture(ctx, n.raft.Barrier(n.applyTimeout)); err != nil {
		return fmt.Errorf("it could not apply the cluster's latest state (%w)", err)
	}
	n.fsm.mu.Lock()
	failed := n.fsm.failed
	n.fsm.mu.Unlock()
	if failed != nil {
		return fmt.Errorf("its database stopped applying the cluster's log (%w)", failed)
	}
	return nil
}

// waitLogApplied waits until the database holds every entry up to idx.
// Raft never hands no-ops and barriers to the FSM, so the applied index
// stops short of idx for good when those come last (a new leader's first
// entry is a no-op): the wait is for the newest entry at or below idx that
// the FSM does see.
func (f *raftFSM) waitLogApplied(ctx context.Context, idx uint64) error {
	f.appliedMu.Lock()
	applied := f.applied
	f.appliedMu.Unlock()
	target := idx
	for f.logs != nil && target > applied {
		var l raft.Log
		if err := f.logs.GetLog(target, &l); err != nil {
			// Compacted into a snapshot, which the database holds already
			// or raft restores next: wait for the index itself.
			break
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			break
		}
		target--
	}
	return f.waitApplied(ctx, target)
}

// ReadHead answers a head read forwarded by a follower. Only the leader
// takes it; followers do not chain forwards.
func (s *rpcService) ReadHead(cmd Command, res *Result) error {
	if s.n.raft.State() != raft.Leader {
		return errors.New(notLeaderMessage)
	}
	r, err := s.n.readLeader(context.Background(), cmd)
	if err != nil {
		return err
	}
	*res = r
	return nil
}
