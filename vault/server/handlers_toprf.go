package server

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/vault"
)

// The threshold-OPRF login (docs/vault.md, "Threshold OPRF"):
// login/begin counts the attempt for one blinded element and evaluates this
// node's share on it; login/eval gives another node's evaluation for that
// committed attempt; login/ke1 answers OPAQUE's KE1 on the begin session.

// beginSession is a counted attempt waiting for its KE1.
type beginSession struct {
	ls     loginSession
	acct   [32]byte // the account id (ls.id is the row counted on)
	sealed []byte   // the account's sealed secrets (nil for a ghost)
}

// countAttempt reserves a session slot and commits one attempt for blind (the hash of what fixes the
// attempt's one password guess: the blinded element, or KE1). A blind the
// row counted already is that attempt again, a client's retry after a
// lost answer: nothing more is counted (Result.Replay). It answers the
// client itself when the attempt is not taken.
// The caller has applied the account's rate limit.
func (s *Server) countAttempt(w http.ResponseWriter, r *http.Request, reserve func(netip.Prefix) bool, release func(netip.Prefix), account string, id [32]byte, handle, blind []byte) (Result, bool) {
	p := sessionPrefix(r.RemoteAddr)
	if !reserve(p) {
		writeError(w, http.StatusServiceUnavailable, vault.CodeRateLimited, "too many logins in progress; try again later", nil)
		return Result{}, false
	}
	// The attempt is counted and committed before any share is evaluated
	// and before KE2 exists: a client can tell a wrong password from KE2
	// alone.
	res, err := s.store.Apply(context.WithoutCancel(r.Context()), Command{
		Op: OpAttempt, Account: id, Node: s.nodeID(), HandleHash: vault.HandleHash(handle),
		Now: s.now().UnixMilli(), DelayBase: s.cfg.FailureDelay.Milliseconds(), Blind: blind, Reuse: true,
	})
	if err != nil {
		release(p)
		s.stateError(w, "counting attempt", err)
		return Result{}, false
	}
	if res.Status == StatusTooSoon {
		release(p)
		s.log.Info("vault audit: attempt refused, failure delay running", zap.String("event", "too_soon"), zap.String("account", account), zap.Int64("wait_ms", res.Wait), zap.String("remote", r.RemoteAddr))
		writeTooSoon(w, res.Wait)
		return Result{}, false
	}
	if res.Status == StatusStale {
		// A copy of this attempt sent again after an election found the
		// account registered anew since the first copy was counted.
		release(p)
		writeError(w, http.StatusConflict, vault.CodeNoSession, "the account changed during the login; start again", nil)
		return Result{}, false
	}
	if res.Status == StatusErased {
		release(p)
		s.log.Info("vault audit: attempt on an erased record", zap.String("event", "attempt_erased"), zap.String("account", account), zap.String("remote", r.RemoteAddr))
		writeError(w, http.StatusGone, vault.CodeErased, vault.ErrErased.Error(), nil)
		return Result{}, false
	}
	return res, true
}

// auditAttempt logs an attempt taken: counted, or taken again.
func (s *Server) auditAttempt(account string, res Result, left int, remote string) {
	msg, ev := "vault audit: login attempt counted", "attempt"
	if res.Replay {
		msg, ev = "vault audit: a counted login attempt sent again, taken as that attempt", "attempt_again"
	}
	s.log.Info(msg, zap.String("event", ev), zap.String("account", account), zap.Bool("known", !res.Ghost), zap.Int("attempts_left", left), zap.String("remote", remote))
}

// openFor opens the sealed secrets of a real account, or does the same
// unseal on the stand-in for a ghost (constant work) and returns nil.
func (s *Server) openFor(eng *engine, ghost bool, id [32]byte, sealed []byte) (*accountSecrets, error) {
	if ghost {
		eng.openDummy(s.mk)
		return nil, nil
	}
	return eng.openSecrets(s.mk, id, sealed)
}

func clearSecrets(sec *accountSecrets) {
	if sec != nil {
		clear(sec.OPRFKey)
		clear(sec.WrappedKey)
	}
}

func (s *Server) handleLoginBegin(w http.ResponseWriter, r *http.Request) {
	eng := s.engine(w)
	if eng == nil {
		return
	}
	var req vault.LoginBeginReq
	if !readRequest(w, r, &req) {
		return
	}
	if _, err := vault.DecodeElement(req.Blinded); err != nil {
		writeError(w, http.StatusBadRequest, vault.CodeBadRequest, "bad blinded element", nil)
		return
	}
	id := eng.accountID(req.Account)
	if s.accountLimited(w, r, req.Account, id) || !s.holdersAnswer(w, r, eng, req.Account, id, req.Handle) {
		return
	}
	p := sessionPrefix(r.RemoteAddr)
	res, ok := s.countAttempt(w, r, s.begins.reserve, s.begins.release, req.Account, id, req.Handle, blindHash(req.Blinded))
	if !ok {
		return
	}
	ls := loginSession{account: req.Account, id: res.Row, generation: res.Generation, attempts: res.Attempts, ghost: res.Ghost}
	secrets, err := s.openFor(eng, res.Ghost, id, res.Sealed)
	if err != nil {
		s.begins.release(p)
		s.endFailed(r.Context(), ls)
		s.internalError(w, "opening account secrets", err)
		return
	}
	if res.Replay && secrets != nil && secrets.Threshold == 0 {
		// An account from before the threshold OPRF takes KE1 of the
		// password itself on this session: nothing ties that KE1 to the
		// element, so a second session for it would be a free guess.
		clearSecrets(secrets)
		s.begins.release(p)
		s.log.Info("vault audit: a counted attempt sent again, refused", zap.String("event", "attempt_spent"), zap.String("account", req.Account), zap.String("remote", r.RemoteAddr))
		writeError(w, http.StatusConflict, vault.CodeAttemptSpent, "this login's attempt was counted and its answer lost; an account registered before the threshold OPRF cannot take it again: start a new login (a new blinded element), which counts a new attempt", nil)
		return
	}
	ev, err := s.evaluate(eng, req.Account, id, secrets, req.Blinded)
	clearSecrets(secrets)
	if err != nil && !errors.Is(err, errNoShare) {
		s.begins.release(p)
		s.endFailed(r.Context(), ls)
		s.internalError(w, "evaluating the key share", err)
		return
	}
	sid, err := s.begins.fill(s.now(), p, beginSession{ls: ls, acct: id, sealed: res.Sealed})
	if err != nil {
		s.endFailed(r.Context(), ls)
		s.internalError(w, "creating session", err)
		return
	}
	left := s.cfg.MaxAttempts - res.Attempts
	s.auditAttempt(req.Account, res, left, r.RemoteAddr)
	// A node without a share (added after the registration) answers t and
	// no evaluation, and gathers t from the others.
	t := ev.t
	have := 0
	if ev.eval != nil {
		have = 1
	}
	peers, err := s.peerEvals(r.Context(), EvalArgs{Account: req.Account, Handle: req.Handle, Blinded: req.Blinded, Index: res.Index}, t-have)
	if errors.Is(err, vault.ErrErased) {
		// Another login's last attempt erased the record after this
		// attempt was counted: no share can be evaluated any more.
		s.begins.take(s.now(), sid[:])
		s.log.Info("vault audit: counted attempt overtaken by the erasure", zap.String("event", "attempt_overtaken"), zap.String("account", req.Account), zap.String("remote", r.RemoteAddr))
		writeError(w, http.StatusGone, vault.CodeErased, vault.ErrErased.Error(), nil)
		return
	}
	writeJSON(w, http.StatusOK, vault.LoginBeginResp{Session: sid[:], AttemptsLeft: left, Threshold: t, X: ev.x, Eval: ev.eval, Index: res.Index, Evals: peers})
}

// holdersAnswer refuses, before anything is counted, a login that too
// few of the account's share holders could answer (see holders.go). It
// answers the client itself when it refuses.
func (s *Server) holdersAnswer(w http.ResponseWriter, r *http.Request, eng *engine, account string, id [32]byte, handle []byte) bool {
	if s.node == nil {
		return true // a single node holds every share
	}
	holders, t, skip, err := s.loginHolders(eng, id, handle)
	if err == nil && !skip {
		err = s.checkHolders(r.Context(), holders, t)
	}
	if fh := (errFewHolders{}); errors.As(err, &fh) && fh.gone() {
		err = s.confirmGone(r.Context(), eng, id, handle, fh)
	}
	refused, gone := fewHolders(err)
	switch {
	case err == nil:
		return true
	case gone:
		s.log.Info("vault audit: login refused before counting, too few share holders are still members", zap.String("event", "share_holders_gone"), zap.String("account", account), zap.String("remote", r.RemoteAddr), zap.String("why", err.Error()))
		writeError(w, http.StatusGone, vault.CodeHoldersGone, err.Error(), nil)
	case refused:
		s.log.Info("vault audit: login refused before counting, too few share holders answer", zap.String("event", "few_share_holders"), zap.String("account", account), zap.String("remote", r.RemoteAddr), zap.String("why", err.Error()))
		writeError(w, http.StatusServiceUnavailable, vault.CodeFewShareHolders, err.Error(), nil)
	case errors.Is(err, errFewShareNodes):
		writeError(w, http.StatusServiceUnavailable, vault.CodeNoQuorum, err.Error(), nil)
	default:
		s.stateError(w, "checking the account's share holders", err)
	}
	return false
}

// evalWait bounds how long an evaluation waits for this node to apply
// the attempt it names.
const evalWait = 3 * time.Second

func (s *Server) handleLoginKE1(w http.ResponseWriter, r *http.Request) {
	eng := s.engine(w)
	if eng == nil {
		return
	}
	var req vault.LoginKE1Req
	if !readRequest(w, r, &req) {
		return
	}
	bs, ok := s.begins.take(s.now(), req.Session)
	if !ok {
		if bs.ls.account != "" { // expired before the janitor saw it
			s.endFailed(r.Context(), bs.ls)
		}
		writeError(w, http.StatusNotFound, vault.CodeNoSession, "login session expired or unknown; start again", nil)
		return
	}
	ls := bs.ls
	ke1, err := eng.server.Deserialize.KE1(req.KE1)
	if err != nil {
		s.endFailed(r.Context(), ls)
		writeError(w, http.StatusBadRequest, vault.CodeBadRequest, "bad KE1 message", nil)
		return
	}
	p := sessionPrefix(r.RemoteAddr)
	if !s.logins.reserve(p) {
		s.endFailed(r.Context(), ls)
		writeError(w, http.StatusServiceUnavailable, vault.CodeRateLimited, "too many logins in progress; try again later", nil)
		return
	}
	secrets, err := s.openFor(eng, ls.ghost, bs.acct, bs.sealed)
	if err != nil {
		s.logins.release(p)
		s.endFailed(r.Context(), ls)
		s.internalError(w, "opening account secrets", err)
		return
	}
	ke2, mac, err := eng.ke2(ke1, ls.account, bs.acct, secrets)
	clearSecrets(secrets)
	if err != nil {
		s.logins.release(p)
		s.endFailed(r.Context(), ls)
		s.internalError(w, "answering KE1", err)
		return
	}
	ls.clientMAC = mac
	sid, err := s.logins.fill(s.now(), p, ls)
	if err != nil {
		s.endFailed(r.Context(), ls)
		s.internalError(w, "creating session", err)
		return
	}
	writeJSON(w, http.StatusOK, vault.LoginKE1Resp{Session: sid[:], KE2: ke2})
}
