package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/vault"
)

// The HTTP handlers of the wire protocol (docs/vault.md, "Wire protocol").

func (s *Server) handleRegisterStart(w http.ResponseWriter, r *http.Request) {
	eng := s.engine(w)
	if eng == nil {
		return
	}
	var req vault.RegisterStartReq
	if !readRequest(w, r, &req) {
		return
	}
	id := eng.accountID(req.Account)
	if s.accountLimited(w, r, req.Account, id) {
		return
	}
	// Early owner check so the client does not run its key stretching in
	// vain; the authoritative check is in OpRegister.
	st, found, err := s.store.view(id)
	if err != nil {
		s.internalError(w, "reading account", err)
		return
	}
	if found && len(st.OwnerHash) > 0 && (req.OwnerToken == nil || !equalHash(st.OwnerHash, ownerHash(req.OwnerToken))) {
		s.log.Info("vault audit: registration refused, owner proof does not match", zap.String("event", "register_refused"), zap.String("account", req.Account), zap.String("remote", r.RemoteAddr))
		writeError(w, http.StatusForbidden, vault.CodeNotOwner, vault.ErrNotOwner.Error(), nil)
		return
	}
	p := sessionPrefix(r.RemoteAddr)
	if !s.regs.reserve(p) {
		writeError(w, http.StatusServiceUnavailable, vault.CodeRateLimited, "too many registrations in progress; try again later", nil)
		return
	}
	resp, oprfKey, err := eng.registrationResponse(req.Request, id)
	if err != nil {
		s.regs.release(p)
		writeError(w, http.StatusBadRequest, vault.CodeBadRequest, err.Error(), nil)
		return
	}
	nodes, t, err := s.shareNodes()
	if errors.Is(err, errFewShareNodes) {
		s.regs.release(p)
		writeError(w, http.StatusServiceUnavailable, vault.CodeNoQuorum, err.Error(), nil)
		return
	}
	if err != nil {
		s.regs.release(p)
		s.internalError(w, "listing the nodes' share keys", err)
		return
	}
	sid, err := s.regs.fill(s.now(), p, regSession{account: req.Account, id: id, oprfKey: oprfKey})
	if err != nil {
		s.internalError(w, "creating session", err)
		return
	}
	writeJSON(w, http.StatusOK, vault.RegisterStartResp{Session: sid[:], Response: resp, ShareNodes: nodes, Threshold: t})
}

func (s *Server) handleRegisterFinish(w http.ResponseWriter, r *http.Request) {
	eng := s.engine(w)
	if eng == nil {
		return
	}
	var req vault.RegisterFinishReq
	if !readRequest(w, r, &req) {
		return
	}
	if len(req.Handle) == 0 {
		// Every chatsafe client since handles registers with one. An
		// account without one would let anyone who knows its name spend
		// its attempts, and see what the vault tells only the owner (the
		// refusal when too few share holders answer). The log still
		// applies such registrations from before handles.
		writeError(w, http.StatusBadRequest, vault.CodeBadRequest, "a registration without a vault handle is refused: an account without one lets anyone who knows its name spend its password attempts. This client is from before vault handles: update chatsafe and set the password again", nil)
		return
	}
	rs, ok := s.regs.take(s.now(), req.Session)
	if !ok {
		writeError(w, http.StatusNotFound, vault.CodeNoSession, "registration session expired or unknown; start again", nil)
		return
	}
	if err := eng.checkRecord(req.Record); err != nil {
		writeError(w, http.StatusBadRequest, vault.CodeBadRequest, err.Error(), nil)
		return
	}
	sealed, err := eng.sealSecrets(s.mk, rs.id, &accountSecrets{OPRFKey: rs.oprfKey, Record: req.Record, WrappedKey: req.WrappedKey, Shares: req.Shares, Threshold: req.Threshold})
	clear(rs.oprfKey)
	if err != nil {
		s.internalError(w, "sealing account secrets", err)
		return
	}
	cmd := Command{Op: OpRegister, Account: rs.id, OwnerHash: ownerHash(req.OwnerToken), Sealed: sealed, HandleHash: vault.HandleHash(req.Handle)}
	if req.NewOwnerToken != nil {
		cmd.NewOwnerHash = ownerHash(req.NewOwnerToken)
	}
	res, err := s.store.Apply(r.Context(), cmd)
	if err != nil {
		s.stateError(w, "registering", err)
		return
	}
	if res.Status == StatusNotOwner {
		s.log.Info("vault audit: registration refused, owner proof does not match", zap.String("event", "register_refused"), zap.String("account", rs.account), zap.String("remote", r.RemoteAddr))
		writeError(w, http.StatusForbidden, vault.CodeNotOwner, vault.ErrNotOwner.Error(), nil)
		return
	}
	s.log.Info("vault audit: registered", zap.String("event", "register"), zap.String("account", rs.account), zap.Uint64("generation", res.Generation), zap.String("remote", r.RemoteAddr))
	writeJSON(w, http.StatusOK, vault.OKResp{OK: true})
}

func (s *Server) handleLoginStart(w http.ResponseWriter, r *http.Request) {
	eng := s.engine(w)
	if eng == nil {
		return
	}
	var req vault.LoginStartReq
	if !readRequest(w, r, &req) {
		return
	}
	// Parse KE1 before counting, so a malformed message costs nothing.
	ke1, err := eng.server.Deserialize.KE1(req.KE1)
	if err != nil {
		writeError(w, http.StatusBadRequest, vault.CodeBadRequest, "bad KE1 message", nil)
		return
	}
	id := eng.accountID(req.Account)
	if s.accountLimited(w, r, req.Account, id) {
		return
	}
	p := sessionPrefix(r.RemoteAddr)
	// KE1 fixes the one password this attempt tries (its OPRF element),
	// so the same KE1 again is the same attempt.
	res, ok := s.countAttempt(w, r, s.logins.reserve, s.logins.release, req.Account, id, req.Handle, ke1Hash(req.KE1))
	if !ok {
		return
	}
	var secrets *accountSecrets
	if res.Ghost {
		eng.openDummy(s.mk) // constant work: see engine.dummySealed
	} else {
		if secrets, err = eng.openSecrets(s.mk, id, res.Sealed); err != nil {
			s.logins.release(p)
			s.internalError(w, "opening account secrets", err)
			return
		}
	}
	ke2, mac, err := eng.ke2(ke1, req.Account, id, secrets)
	if secrets != nil {
		clear(secrets.OPRFKey)
		clear(secrets.WrappedKey)
	}
	if err != nil {
		s.logins.release(p)
		s.internalError(w, "answering KE1", err)
		return
	}
	left := s.cfg.MaxAttempts - res.Attempts
	sid, err := s.logins.fill(s.now(), p, loginSession{account: req.Account, id: res.Row, generation: res.Generation, attempts: res.Attempts, ghost: res.Ghost, clientMAC: mac})
	if err != nil {
		s.internalError(w, "creating session", err)
		return
	}
	s.auditAttempt(req.Account, res, left, r.RemoteAddr)
	writeJSON(w, http.StatusOK, vault.LoginStartResp{Session: sid[:], KE2: ke2, AttemptsLeft: left})
}

func (s *Server) handleLoginFinish(w http.ResponseWriter, r *http.Request) {
	eng := s.engine(w)
	if eng == nil {
		return
	}
	var req vault.LoginFinishReq
	if !readRequest(w, r, &req) {
		return
	}
	ls, ok := s.logins.take(s.now(), req.Session)
	if !ok {
		if ls.clientMAC != nil { // expired before the janitor saw it
			s.endFailed(r.Context(), ls)
		}
		writeError(w, http.StatusNotFound, vault.CodeNoSession, "login session expired or unknown; start again", nil)
		return
	}
	left := s.cfg.MaxAttempts - ls.attempts
	if err := eng.finish(req.KE3, ls.clientMAC); err != nil {
		s.endFailed(r.Context(), ls)
		s.log.Info("vault audit: login failed", zap.String("event", "login_failed"), zap.String("account", ls.account), zap.Int("attempts_left", left), zap.String("remote", r.RemoteAddr))
		writeError(w, http.StatusForbidden, vault.CodeWrongPassword, vault.WrongPasswordError{Left: left}.Error(), &left)
		return
	}
	res, err := s.store.Apply(context.WithoutCancel(r.Context()), Command{Op: OpSuccess, Account: ls.id, Generation: ls.generation})
	if err != nil {
		s.stateError(w, "resetting attempts", err)
		return
	}
	switch res.Status {
	case StatusOK:
	case StatusErased:
		writeError(w, http.StatusGone, vault.CodeErased, vault.ErrErased.Error(), nil)
		return
	default:
		writeError(w, http.StatusConflict, vault.CodeNoSession, "the account changed during the login; start again", nil)
		return
	}
	secrets, err := eng.openSecrets(s.mk, ls.id, res.Sealed)
	if err != nil {
		s.internalError(w, "opening account secrets", err)
		return
	}
	clear(secrets.OPRFKey)
	s.log.Info("vault audit: login succeeded, attempts reset, key released", zap.String("event", "login"), zap.String("account", ls.account), zap.String("remote", r.RemoteAddr))
	writeJSON(w, http.StatusOK, vault.LoginFinishResp{WrappedKey: secrets.WrappedKey})
}

func (s *Server) handleLoginAbort(w http.ResponseWriter, r *http.Request) {
	var req vault.LoginAbortReq
	if !readRequest(w, r, &req) {
		return
	}
	ls, _ := s.logins.take(s.now(), req.Session)
	if ls.clientMAC == nil {
		bs, _ := s.begins.take(s.now(), req.Session) // a threshold login before its KE1
		ls = bs.ls
	}
	if ls.account != "" {
		s.endFailed(r.Context(), ls)
		s.log.Info("vault audit: login abandoned by the client", zap.String("event", "login_failed"), zap.String("account", ls.account), zap.Int("attempts_left", s.cfg.MaxAttempts-ls.attempts), zap.String("remote", r.RemoteAddr))
	}
	writeJSON(w, http.StatusOK, vault.OKResp{OK: true})
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	eng := s.engine(w)
	if eng == nil {
		return
	}
	var req vault.DeleteReq
	if !readRequest(w, r, &req) {
		return
	}
	id := eng.accountID(req.Account)
	if s.accountLimited(w, r, req.Account, id) {
		return
	}
	res, err := s.store.Apply(context.WithoutCancel(r.Context()), Command{Op: OpDelete, Account: id, OwnerHash: ownerHash(req.OwnerToken)})
	if err != nil {
		s.stateError(w, "deleting", err)
		return
	}
	switch res.Status {
	case StatusOK:
		s.log.Info("vault audit: account deleted", zap.String("event", "delete"), zap.String("account", req.Account), zap.String("remote", r.RemoteAddr))
		writeJSON(w, http.StatusOK, vault.OKResp{OK: true})
	case StatusNotOwner:
		s.log.Info("vault audit: deletion refused, owner proof does not match", zap.String("event", "delete_refused"), zap.String("account", req.Account), zap.String("remote", r.RemoteAddr))
		writeError(w, http.StatusForbidden, vault.CodeNotOwner, vault.ErrNotOwner.Error(), nil)
	default:
		writeError(w, http.StatusNotFound, vault.CodeNotFound, vault.ErrNotFound.Error(), nil)
	}
}

// writeTooSoon answers an attempt made before the failure delay passed.
func writeTooSoon(w http.ResponseWriter, waitMS int64) {
	w.Header().Set("Retry-After", strconv.FormatInt((waitMS+999)/1000, 10))
	writeJSON(w, http.StatusTooManyRequests, vault.ErrorResp{Error: vault.CodeTooSoon, Message: vault.RetryAfterError{Wait: time.Duration(waitMS) * time.Millisecond}.Error(), RetryAfterMS: waitMS})
}
