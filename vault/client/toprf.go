package client

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/bytemare/opaque"

	"github.com/chatsafe/chatsafe/vault"
)

// thresholdStart runs the threshold-OPRF part of a login (docs/vault.md,
// "Threshold OPRF"): login/begin on the first node that answers counts the
// attempt and evaluates that node's share on the blinded password; other
// nodes evaluate theirs for the committed attempt (login/eval) until the
// threshold is met; the combined, unblinded result hardens the password,
// and KE1 of the hardened password goes to the begin node (login/ke1). It
// fills start with that node's session, KE2 and attempts left.
func (c *Client) thresholdStart(ctx context.Context, oc *opaque.Client, account string, password []byte, handle vault.Handle, start *vault.LoginStartResp) (string, error) {
	// The blind of an earlier try whose begin was never answered, if
	// any: the vault takes it as the attempt it may have counted.
	pid := pending.id(c.urls, account, handle, password)
	blind := pending.take(pid, account, password)
	kept := false
	defer func() {
		if !kept {
			blind.Wipe() // it holds the password
		}
	}()
	req := vault.LoginBeginReq{Account: account, Blinded: blind.Blinded}
	if !handle.IsZero() {
		req.Handle = handle[:]
	}
	var begin vault.LoginBeginResp
	base, err := c.retryStart(ctx, "", vault.PathLoginBegin, req, &begin)
	if errors.Is(err, errReplayRefused) {
		// An account from before the threshold OPRF: the node that
		// answered will not take the counted element again (a session on
		// it would be a free guess). Start once more there with a fresh
		// element: one more attempt, what every retry cost before replays
		// were taken, rather than stopping the login (and the daemon).
		blind.Wipe()
		blind = vault.NewTOPRFBlind(account, password)
		req.Blinded = blind.Blinded
		base, err = c.retryStart(ctx, base, vault.PathLoginBegin, req, &begin)
	}
	if err != nil {
		if errors.Is(err, vault.ErrUnreachable) && !errors.Is(err, vault.ErrAttemptSpent) {
			pending.keep(pid, blind) // no node answered: the outcome is unknown
			kept = true
		}
		return "", err
	}
	// The vault counted the attempt: every failure from here on is
	// marked (vault.AttemptSpent), so that no caller retries it by itself.
	if len(begin.Session) != vault.SessionIDLen {
		return "", vault.AttemptSpent(fmt.Errorf("%w: malformed login/begin answer", vault.ErrUnreachable))
	}
	abort := func() {
		// Best effort: the attempt is spent; a last one erases now.
		_, _ = c.call(ctx, base, vault.PathLoginAbort, vault.LoginAbortReq{Session: begin.Session}, &vault.OKResp{})
	}
	pw := password
	if begin.Threshold > 0 {
		evals, err := c.collectEvals(ctx, base, req, begin)
		if err != nil {
			abort()
			return "", vault.AttemptSpent(err)
		}
		if pw, err = blind.Finish(evals); err != nil {
			abort()
			return "", vault.AttemptSpent(fmt.Errorf("%w: combining the key shares: %v", vault.ErrUnreachable, err))
		}
		defer clear(pw)
	}
	ke1, err := oc.GenerateKE1(pw)
	if err != nil {
		abort()
		return "", vault.AttemptSpent(fmt.Errorf("starting vault login: %w", err))
	}
	var kr vault.LoginKE1Resp
	if _, err := c.call(ctx, base, vault.PathLoginKE1, vault.LoginKE1Req{Session: begin.Session, KE1: ke1.Serialize()}, &kr); err != nil {
		return "", vault.AttemptSpent(err)
	}
	*start = vault.LoginStartResp{Session: kr.Session, KE2: kr.KE2, AttemptsLeft: begin.AttemptsLeft}
	return base, nil
}

// collectEvals gathers Threshold evaluations with distinct share indexes:
// the begin node's, then the other nodes' in the order of the URLs.
func (c *Client) collectEvals(ctx context.Context, base string, req vault.LoginBeginReq, begin vault.LoginBeginResp) ([]vault.Eval, error) {
	t := begin.Threshold
	if t > vault.MaxShares {
		return nil, fmt.Errorf("%w: the vault asks for %d key shares", vault.ErrUnreachable, t)
	}
	var evals []vault.Eval
	if begin.Eval != nil {
		evals = append(evals, vault.Eval{X: begin.X, Element: begin.Eval})
	}
	for _, e := range begin.Evals {
		if len(evals) < t && e.X > 0 && !slices.ContainsFunc(evals, func(o vault.Eval) bool { return o.X == e.X }) {
			evals = append(evals, e)
		}
	}
	ereq := vault.LoginEvalReq{Account: req.Account, Blinded: req.Blinded, Handle: req.Handle, Index: begin.Index}
	var errs []error
	for _, u := range c.urls {
		if len(evals) >= t {
			break
		}
		if u == base {
			continue
		}
		var er vault.LoginEvalResp
		if _, err := c.call(ctx, u, vault.PathLoginEval, ereq, &er); err != nil {
			if errors.Is(err, vault.ErrErased) {
				// The limit erased the record after this attempt was
				// counted: no node can evaluate any more.
				return nil, err
			}
			errs = append(errs, err)
			continue
		}
		if er.X < 1 || slices.ContainsFunc(evals, func(e vault.Eval) bool { return e.X == er.X }) {
			errs = append(errs, fmt.Errorf("%s: a duplicate or malformed key share", u))
			continue
		}
		evals = append(evals, vault.Eval{X: er.X, Element: er.Eval})
	}
	if len(evals) < t {
		short := fmt.Errorf("%w: %d of the %d key shares the login needs answered", vault.ErrUnreachable, len(evals), t)
		if len(errs) == 0 {
			// Only the begin node is listed: its peers did not answer it
			// in time, and there is no other node to ask.
			return nil, fmt.Errorf("%w; the other vault nodes did not answer the node that took the attempt (list every vault node with --vault, or try again once the cluster is healthy)", short)
		}
		return nil, fmt.Errorf("%w (list every vault node with --vault): %w", short, errors.Join(errs...))
	}
	return evals, nil
}
