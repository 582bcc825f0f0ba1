package server

import (
	"errors"
	"net/rpc"
	"strconv"
	"strings"
)

// Since, the index a change's window counts from (dedup.go), must be an
// index committed before any copy of the change was sent. Then every copy
// that ever commits lies past it: a leader holds every committed entry and
// appends after them, and an entry a deposed leader wrote at or below a
// committed index never commits. A copy applied at index I ≤ Since+window
// therefore finds any earlier applied copy (at an index > Since ≥ I-window)
// still remembered, and answers its result: an attempt is counted once,
// so ten wrong passwords are ten and the eleventh erases.
//
// Any committed index serves; the fresher, the less a change is refused
// for waiting when it did not wait. A node's state machine can be far
// behind the log (a restart replaying it, a slow disk) and its own log far
// behind the leader's, so a change it proposes takes the newest committed
// index it knows (committedNow), and the leader refuses, without
// proposing it, a change whose Since is more than half a window behind its
// own commit index (checkSince). The proposer then takes the leader's
// commit index, which is as safe as its own, as long as no copy it sent
// can be in a log (mayBeInLog): otherwise it keeps the Since it has, and
// the change fails as one that waited too long.

// committedNow is the newest log index this node knows to be committed:
// raft's commit index, ahead of what its state machine has applied while
// that lags.
func (n *raftNode) committedNow() uint64 {
	return max(n.fsm.appliedNow(), n.raft.CommitIndex())
}

// behindPrefix starts the text of a behindError (errors cross the internal
// RPC as text).
const behindPrefix = "vault change proposed from behind the log, not proposed; the leader has committed up to entry "

// behindError is a change a leader did not propose because its Since is
// far behind the leader's commit index.
type behindError struct{ commit uint64 }

func (e *behindError) Error() string { return behindPrefix + strconv.FormatUint(e.commit, 10) }

// Unwrap: a change that cannot take a fresher Since fails as one that
// waited too long.
func (e *behindError) Unwrap() error { return errTooLate }

// parseBehind reads a behindError from its text.
func parseBehind(s string) (*behindError, bool) {
	rest, ok := strings.CutPrefix(s, behindPrefix)
	if !ok {
		return nil, false
	}
	c, err := strconv.ParseUint(rest, 10, 64)
	if err != nil {
		return nil, false
	}
	return &behindError{commit: c}, true
}

// checkSince refuses, on the leader and before proposing it, a change
// whose Since is more than half a window behind the commit index.
func (n *raftNode) checkSince(cmd Command) error {
	if len(cmd.Req) == 0 {
		return nil
	}
	if c := n.raft.CommitIndex(); c > cmd.Since+n.fsm.dedupWindow()/2 {
		return &behindError{commit: c}
	}
	return nil
}

// sinceKeeper holds a change's Since across the tries to commit it.
type sinceKeeper struct {
	since uint64
	sent  bool // a copy may be in a leader's log
}

// failed notes a try's failure. It takes the leader's commit index from a
// behindError while no copy can be in a log, and then reports true: send
// again with the new since.
func (k *sinceKeeper) failed(err error) bool {
	var b *behindError
	if errors.As(err, &b) && !k.sent {
		k.since = b.commit
		return true
	}
	k.sent = k.sent || mayBeInLog(err)
	return false
}

// mayBeInLog tells whether a failed send of a change may have put it in a
// leader's log. Only a refusal before proposing says it cannot: no leader
// known, no connection made, a node that is not the leader, a leader
// behind which the change stands. A connection closed while a call was in
// flight (rpc.ErrShutdown) may have carried it.
func mayBeInLog(err error) bool {
	var b *behindError
	if errors.As(err, &b) {
		return false
	}
	return !errors.Is(err, errNotProposed) || errors.Is(err, rpc.ErrShutdown)
}
