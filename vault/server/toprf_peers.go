package server

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"

	"github.com/hashicorp/raft"

	"github.com/chatsafe/chatsafe/vault"
)

// The begin node gathers the other shares' evaluations itself, over the
// nodes' internal RPC (mutual TLS, pinned node keys), so that a client
// that lists one node still logs in with one round more than before, not
// a round per node. A peer evaluates exactly as for login/eval: only an
// element whose attempt is committed in its own replica. The begin node
// sees k_i·B for a blinded B, which tells it nothing a client would not
// learn; a node that impersonated a client could get no more either.

// EvalArgs asks a peer for its share's evaluation (RPC Vault.Eval).
type EvalArgs struct {
	Account string
	Handle  []byte
	Blinded []byte
	Index   uint64
}

// EvalReply is a peer's evaluation.
type EvalReply struct {
	X    int
	Eval []byte
}

// Eval answers a peer's request for this node's evaluation.
func (s *rpcService) Eval(args EvalArgs, reply *EvalReply) error {
	f := s.n.evalFn.Load()
	if f == nil {
		return errNoQuorum
	}
	ctx, cancel := context.WithTimeout(context.Background(), evalWait)
	defer cancel()
	ev, err := (*f)(ctx, args)
	if err != nil {
		return err
	}
	*reply = EvalReply{X: ev.x, Eval: ev.eval}
	return nil
}

// errNotCounted is an evaluation asked for an element whose attempt this
// node has not seen committed.
var errNotCounted = errors.New("no counted attempt for this login; start again")

// evalCommitted is this node's evaluation for a committed attempt: it
// waits until its replica has applied the attempt (index), then evaluates
// only if the element's hash is among the row's counted ones.
func (s *Server) evalCommitted(ctx context.Context, a EvalArgs) (shareEval, error) {
	eng := s.eng.Load()
	if eng == nil {
		return shareEval{}, errNoQuorum
	}
	if err := vault.CheckAccount(a.Account); err != nil {
		return shareEval{}, err
	}
	if _, err := vault.DecodeElement(a.Blinded); err != nil {
		return shareEval{}, fmt.Errorf("%w: blinded element", vault.ErrBadMessage)
	}
	if s.node != nil && a.Index > 0 {
		wctx, cancel := context.WithTimeout(ctx, evalWait)
		err := s.node.fsm.waitApplied(wctx, a.Index)
		cancel()
		if err != nil {
			return shareEval{}, fmt.Errorf("%w: this node has not applied the attempt yet", errNoQuorum)
		}
	}
	id := eng.accountID(a.Account)
	st, found, err := attemptRow(s.store, id, vault.HandleHash(a.Handle))
	if err != nil {
		return shareEval{}, err
	}
	if found && st.Erased {
		// The attempt may have been counted before the limit erased the
		// record (another login's last attempt): the shares are gone, and
		// that is what the client must hear, not "start again".
		return shareEval{}, vault.ErrErased
	}
	bh := blindHash(a.Blinded)
	if !found || !slices.ContainsFunc(st.Blinds, func(b []byte) bool { return equalHash(b, bh) }) {
		return shareEval{}, errNotCounted
	}
	secrets, err := s.openFor(eng, st.Ghost, id, st.Sealed)
	if err != nil {
		return shareEval{}, err
	}
	ev, err := s.evaluate(eng, a.Account, id, secrets, a.Blinded)
	clearSecrets(secrets)
	if err == nil && ev.eval == nil {
		err = errNoShare
	}
	return ev, err
}

// peerHedge is how long peerEvals waits for a peer before asking one more.
const peerHedge = 250 * time.Millisecond

// peerEvals asks other members for their evaluations until need of them
// answered: need peers at first (starting at a random one, to spread the
// work), one more for each that fails or is slower than peerHedge.
// Shortfalls are left to the client, which can ask other nodes itself
// (login/eval), except when a peer answers that the record is erased
// (vault.ErrErased): no node can evaluate any more.
func (s *Server) peerEvals(ctx context.Context, a EvalArgs, need int) ([]vault.Eval, error) {
	if s.node == nil || need <= 0 {
		return nil, nil
	}
	f := s.node.raft.GetConfiguration()
	if f.Error() != nil {
		return nil, nil
	}
	// The leader first: it has applied the attempt when the commit
	// returned, where a follower may still wait to learn of the commit.
	// Then the others from a random one, to spread the work.
	leader, _ := s.node.raft.LeaderWithID()
	var peers []string
	first := ""
	for _, srv := range f.Configuration().Servers {
		switch {
		case string(srv.ID) == s.node.id || srv.Suffrage != raft.Voter:
		case srv.Address == leader:
			first = string(srv.Address)
		default:
			peers = append(peers, string(srv.Address))
		}
	}
	if len(peers) > 0 {
		off := rand.IntN(len(peers))
		peers = append(peers[off:], peers[:off]...)
	}
	if first != "" {
		peers = append([]string{first}, peers...)
	}
	if len(peers) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, evalWait+s.node.applyTimeout)
	defer cancel() // ends the calls still out; their goroutines then return
	// A nil ev is a peer that failed; erased that it said the record is.
	type answer struct {
		ev     *vault.Eval
		erased bool
	}
	ch := make(chan answer)
	ask := func() {
		addr := peers[0]
		peers = peers[1:]
		go func() {
			var r EvalReply
			var ans answer
			// r is the RPC's to write until call returns without error
			// (on a timeout the call may still be in flight).
			err := s.node.call(ctx, addr, "Vault.Eval", a, &r)
			switch {
			case err == nil && r.X > 0 && len(r.Eval) == vault.ElementLen:
				ans.ev = &vault.Eval{X: r.X, Element: r.Eval}
			case errors.Is(err, vault.ErrErased):
				ans.erased = true
			}
			select {
			case ch <- ans:
			case <-ctx.Done():
			}
		}()
	}
	out := 0
	for ; out < need && len(peers) > 0; out++ {
		ask()
	}
	hedge := time.NewTicker(peerHedge)
	defer hedge.Stop()
	var evs []vault.Eval
	for out > 0 && len(evs) < need {
		select {
		case ans := <-ch:
			out--
			if ans.erased {
				return evs, vault.ErrErased
			}
			if ans.ev != nil {
				evs = append(evs, *ans.ev)
			} else if len(peers) > 0 {
				ask()
				out++
			}
		case <-hedge.C:
			if len(peers) > 0 {
				ask()
				out++
			}
		case <-ctx.Done():
			return evs, nil
		}
	}
	return evs, nil
}

// handleLoginEval gives this node's evaluation to a client for a
// committed attempt (when the begin node could not gather enough).
func (s *Server) handleLoginEval(w http.ResponseWriter, r *http.Request) {
	if s.engine(w) == nil {
		return
	}
	var req vault.LoginEvalReq
	if !readRequest(w, r, &req) {
		return
	}
	ev, err := s.evalCommitted(r.Context(), EvalArgs{Account: req.Account, Handle: req.Handle, Blinded: req.Blinded, Index: req.Index})
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, vault.LoginEvalResp{X: ev.x, Eval: ev.eval})
	case errors.Is(err, vault.ErrErased):
		writeError(w, http.StatusGone, vault.CodeErased, err.Error(), nil)
	case errors.Is(err, errNotCounted):
		writeError(w, http.StatusConflict, vault.CodeNoSession, err.Error(), nil)
	case errors.Is(err, errNoShare):
		writeError(w, http.StatusNotFound, vault.CodeNoShare, err.Error(), nil)
	case errors.Is(err, vault.ErrBadMessage):
		writeError(w, http.StatusBadRequest, vault.CodeBadRequest, err.Error(), nil)
	default:
		s.stateError(w, "evaluating the key share", err)
	}
}
