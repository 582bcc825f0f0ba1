package server

import (
	"context"
	"net/http"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/vault"
)

// handleHead reads or advances an account's head record. An advance goes
// through the replicated log; a read does not (readindex.go) but still
// sees every advance any node committed before it.
func (s *Server) handleHead(w http.ResponseWriter, r *http.Request) {
	eng := s.engine(w)
	if eng == nil {
		return
	}
	var req vault.HeadReq
	if !readRequest(w, r, &req) {
		return
	}
	id := eng.accountID(req.Account)
	cmd := Command{Op: OpHead, Account: id, OwnerHash: ownerHash(req.OwnerToken), Prev: req.Prev, Next: req.Next}
	if req.Handle != nil {
		cmd.HandleHash = vault.HandleHash(req.Handle)
	}
	if !s.headAdmitted(w, r, req.Account, cmd) {
		return
	}
	var res Result
	var err error
	if req.Next == nil {
		res, err = s.store.readHead(r.Context(), cmd)
	} else {
		res, err = s.advanceHead(r.Context(), cmd)
	}
	if err != nil {
		s.stateError(w, "reading or moving the head", err)
		return
	}
	switch res.Status {
	case StatusOK:
		if req.Next != nil {
			s.log.Info("vault audit: head advanced", zap.String("event", "head"), zap.String("account", req.Account), zap.Uint64("seq", res.Head.Seq), zap.String("remote", r.RemoteAddr))
		}
		writeJSON(w, http.StatusOK, vault.HeadResp{Head: res.Head, Account: headAccount(res, s.cfg.MaxAttempts)})
	case StatusHeadMoved:
		s.log.Info("vault audit: head advance refused, another head is recorded", zap.String("event", "head_moved"), zap.String("account", req.Account), zap.Uint64("recorded_seq", res.Head.Seq), zap.String("remote", r.RemoteAddr))
		writeJSON(w, http.StatusConflict, struct {
			vault.ErrorResp
			Head vault.HeadRecord `json:"head"`
		}{vault.ErrorResp{Error: vault.CodeHeadMoved, Message: vault.ErrHeadMoved.Error()}, res.Head})
	case StatusNotOwner:
		s.log.Info("vault audit: head refused, owner proof does not match", zap.String("event", "head_refused"), zap.String("account", req.Account), zap.String("remote", r.RemoteAddr))
		writeError(w, http.StatusForbidden, vault.CodeNotOwner, vault.ErrNotOwner.Error(), nil)
	default:
		writeError(w, http.StatusNotFound, vault.CodeNotFound, vault.ErrNotFound.Error(), nil)
	}
}

// headAdmitted applies the head limit, per account and owner proof (not
// the login limit, accountLimited: a daemon asks once per committed delta,
// and whoever knows the name could drain that one). When the limit's table
// is full, which a stranger can keep it with wrong tokens' buckets, a
// request whose owner proof matches takes another key's bucket; any other
// is refused and tracked nowhere.
func (s *Server) headAdmitted(w http.ResponseWriter, r *http.Request, account string, cmd Command) bool {
	k := newHeadKey(cmd.Account, cmd.OwnerHash)
	switch s.byHead.take(s.now(), k) {
	case takeOK:
		return true
	case takeLimited:
		s.rateLimited(w, r, "head", account, "too many head requests for this account; try again later")
		return false
	}
	res, err := s.ownerProof(r.Context(), cmd)
	if err != nil {
		s.stateError(w, "checking an owner proof", err)
		return false
	}
	if res.Status == StatusOK && s.byHead.admit(s.now(), k) {
		return true
	}
	s.rateLimited(w, r, "head_full", account, "too many head requests; try again later")
	return false
}

// ownerProof checks cmd's owner proof without changing anything. This
// node's copy decides first; a refusal from it is confirmed by a read
// through the leader (readHead), because the copy may not yet hold a key
// rotation committed a moment ago.
func (s *Server) ownerProof(ctx context.Context, cmd Command) (Result, error) {
	check := cmd
	check.Prev, check.Next = nil, nil
	res, err := s.store.localHead(check)
	if err == nil && res.Status != StatusOK && s.node != nil {
		res, err = s.store.readHead(ctx, check)
	}
	return res, err
}

// advanceHead proposes cmd only when its owner proof matches: a refused
// advance costs a read, not a log entry (an append and an fsync on every
// node), checked by ownerProof. The log's OpHead checks the proof again,
// so a copy that is behind never lets a wrong one through.
func (s *Server) advanceHead(ctx context.Context, cmd Command) (Result, error) {
	res, err := s.ownerProof(ctx, cmd)
	if err != nil || res.Status != StatusOK {
		return res, err
	}
	// Once proposed, the advance is applied whether or not this client
	// still waits; WithoutCancel keeps the answer consistent with the log.
	return s.store.Apply(context.WithoutCancel(ctx), cmd)
}

// headAccount is what a head answer tells the owner of the account's
// password: the counter the login answers give anyone who spends an
// attempt, and whether the key is erased.
func headAccount(res Result, maxAttempts int) *vault.HeadAccount {
	a := &vault.HeadAccount{Erased: res.KeyErased, Failed: res.Attempts, Left: max(maxAttempts-res.Attempts, 0)}
	if a.Erased {
		a.Left = 0
	}
	return a
}
