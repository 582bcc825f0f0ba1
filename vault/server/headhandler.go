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
	if s.accountLimited(w, r, req.Account, id) {
		return
	}
	cmd := Command{Op: OpHead, Account: id, OwnerHash: ownerHash(req.OwnerToken), Prev: req.Prev, Next: req.Next}
	if req.Handle != nil {
		cmd.HandleHash = vault.HandleHash(req.Handle)
	}
	var res Result
	var err error
	if req.Next == nil {
		res, err = s.store.readHead(r.Context(), cmd)
	} else {
		// Once proposed, the advance is applied whether or not this client
		// still waits; WithoutCancel keeps the answer consistent with the log.
		res, err = s.store.Apply(context.WithoutCancel(r.Context()), cmd)
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
		writeJSON(w, http.StatusOK, vault.HeadResp{Head: res.Head})
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
