package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/bytemare/opaque"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/vault"
)

// thresholdRecover runs the threshold-OPRF login (docs/vault.md,
// "Threshold OPRF"): login/begin on the first node that answers counts the
// attempt and evaluates that node's share on the blinded password; other
// nodes evaluate theirs for the committed attempt (login/eval) until the
// threshold is met; the combined, unblinded result hardens the password,
// KE1 of the hardened password goes to the begin node (login/ke1), and its
// KE2 is answered as in any login.
//
// The blind is kept until the login ends (the key, a wrong password, an
// erased key): the vault takes a begin whose element it counted as that
// same attempt, so a login whose answers were lost, at any step, starts
// again with the same element at no cost — on the next node within this
// call, and through the pending store on the next call of the same login
// (the daemon's next try makes a new Client).
func (c *Client) thresholdRecover(ctx context.Context, account string, password []byte, handle vault.Handle) (crypt.Key, error) {
	pid := pending.id(c.urls, account, handle, password)
	l := &login{c: c, account: account, password: password, handle: handle}
	l.blind, l.replay = pending.takeKept(pid, account, password)
	key, err := l.run(ctx)
	if l.ended {
		l.blind.Wipe() // it holds the password
	} else {
		pending.keep(pid, l.blind)
	}
	return key, err
}

// login is one threshold-OPRF login of one password.
type login struct {
	c        *Client
	account  string
	password []byte
	handle   vault.Handle
	blind    *vault.TOPRFBlind
	ended    bool // over: the blind is of no more use
	replay   bool // the blind was kept from an earlier try, whose begin may have counted
}

// loginTry is how one try of a login (begin to wrapped key) failed.
type loginTry struct {
	err     error
	base    string // the node that answered the begin
	counted bool   // a begin was answered: the vault counted the attempt (or took it again)
	legacy  bool   // the account is from before the threshold OPRF
}

// run tries the login on every node in turn as the begin node (at least
// twice), each try after the first sending the same element again.
func (l *login) run(ctx context.Context) (crypt.Key, error) {
	var lost error // why the last counted try failed
	from := ""
	for range max(2, len(l.c.urls)) {
		key, t := l.try(ctx, l.c.after(from))
		switch {
		case t.err == nil || errors.Is(t.err, vault.ErrWrongPassword) || errors.Is(t.err, vault.ErrErased) || errors.Is(t.err, vault.ErrHoldersGone) || errors.Is(t.err, crypt.ErrAuth):
			l.ended = true
			return key, t.err
		case !t.counted && lost == nil:
			// Kept while a begin of it may have counted: this one went
			// unanswered (on every node, or on one before the node that
			// refused it), or an earlier try's did. A fresh element
			// refused by the first node asked (too soon, rate limited, bad
			// request) counted nothing.
			l.ended = !l.replay && !errors.Is(t.err, vault.ErrUnreachable) && !errors.Is(t.err, errEarlierUnanswered) && ctx.Err() == nil
			return key, t.err
		case !t.counted:
			return key, vault.AttemptKept(fmt.Errorf("%w; starting the login again: %w", lost, t.err), maxPendingAge)
		case t.legacy:
			// Such an account takes no element twice (a second session
			// would be a free guess): a retry costs another attempt.
			l.ended = true
			return key, vault.AttemptSpent(t.err)
		case ctx.Err() != nil:
			return key, vault.AttemptKept(t.err, maxPendingAge)
		case !errors.Is(t.err, vault.ErrUnreachable):
			// Refused after the count (a node rejecting what it was sent):
			// not an answer lost, so not worth a replay.
			l.ended = true
			return key, vault.AttemptSpent(t.err)
		}
		lost, from = t.err, t.base
	}
	return crypt.Key{}, vault.AttemptKept(lost, maxPendingAge)
}

func (l *login) beginReq() vault.LoginBeginReq {
	req := vault.LoginBeginReq{Account: l.account, Blinded: l.blind.Blinded}
	if !l.handle.IsZero() {
		req.Handle = l.handle[:]
	}
	return req
}

// try sends the login's begin to nodes, in order until one answers, and
// goes on with that node to the wrapped key.
func (l *login) try(ctx context.Context, nodes []string) (crypt.Key, loginTry) {
	oc, opts, err := l.c.opaqueClient()
	if err != nil {
		return crypt.Key{}, loginTry{err: err}
	}
	defer oc.ClearState()
	req := l.beginReq()
	var begin vault.LoginBeginResp
	base, err := l.c.retryStart(ctx, nodes, vault.PathLoginBegin, req, &begin)
	if errors.Is(err, errReplayRefused) {
		// An account from before the threshold OPRF: the node that
		// answered will not take the counted element again. Start once
		// more there with a fresh element: one more attempt, what every
		// retry cost before replays were taken, rather than stopping the
		// login (and the daemon).
		l.blind.Wipe()
		l.blind = vault.NewTOPRFBlind(l.account, l.password)
		req.Blinded = l.blind.Blinded
		base, err = l.c.retryStart(ctx, []string{base}, vault.PathLoginBegin, req, &begin)
	}
	var fh vault.ShareHoldersError
	var gone vault.HoldersGoneError
	switch {
	case errors.Is(err, errEarlierUnanswered):
		// A later node's answer (erased, too soon) is the vault's, and
		// stays what the login ends with.
	case errors.As(err, &gone):
		// The vault refused before counting: say what it said, not the
		// failures of every node in turn. A node that sees the share
		// holders gone goes before one that waits for them: a node says
		// gone only as the confirmed leader on a current view, while a
		// follower (whose replica may be behind) says only "try again".
		err = gone
	case errors.As(err, &fh):
		err = fh
	}
	if err != nil {
		return crypt.Key{}, loginTry{err: err}
	}
	t := loginTry{base: base, counted: true, legacy: begin.Threshold == 0}
	if len(begin.Session) != vault.SessionIDLen {
		t.err = fmt.Errorf("%w: %s: malformed login/begin answer", vault.ErrUnreachable, base)
		return crypt.Key{}, t
	}
	start, err := l.ke1(ctx, oc, base, req, begin)
	if err == nil {
		var key crypt.Key
		if key, err = l.c.finishLogin(ctx, oc, opts, base, l.account, start); err == nil {
			return key, t
		}
	}
	if errors.Is(err, errNoSession) {
		// The node lost the session (it expired or the node restarted):
		// the attempt stays counted, and starting again costs nothing.
		err = fmt.Errorf("%w: %w", vault.ErrUnreachable, err)
	}
	t.err = err
	return crypt.Key{}, t
}

// ke1 gathers the key shares for the counted element, hardens the
// password with them and sends KE1 of it to the begin node; an account
// from before the threshold OPRF takes KE1 of the password itself. A
// failure leaves the session to expire: a retry may be the same attempt,
// and at the limit an abort would erase (a try then that failed only on
// its way would lose the key).
func (l *login) ke1(ctx context.Context, oc *opaque.Client, base string, req vault.LoginBeginReq, begin vault.LoginBeginResp) (vault.LoginStartResp, error) {
	pw := l.password
	if begin.Threshold > 0 {
		evals, err := l.c.collectEvals(ctx, base, req, begin)
		if err != nil {
			return vault.LoginStartResp{}, err
		}
		if pw, err = l.blind.Finish(evals); err != nil {
			return vault.LoginStartResp{}, fmt.Errorf("%w: combining the key shares: %w", vault.ErrUnreachable, err)
		}
		defer clear(pw)
	}
	ke1, err := oc.GenerateKE1(pw)
	if err != nil {
		return vault.LoginStartResp{}, fmt.Errorf("starting vault login: %w", err)
	}
	var kr vault.LoginKE1Resp
	if _, err := l.c.call(ctx, base, vault.PathLoginKE1, vault.LoginKE1Req{Session: begin.Session, KE1: ke1.Serialize()}, &kr); err != nil {
		return vault.LoginStartResp{}, err
	}
	return vault.LoginStartResp{Session: kr.Session, KE2: kr.KE2, AttemptsLeft: begin.AttemptsLeft}, nil
}

// after is the URLs in order starting after base (all in order for "").
func (c *Client) after(base string) []string {
	i := slices.Index(c.urls, base)
	if i < 0 {
		return c.urls
	}
	return append(slices.Clone(c.urls[i+1:]), c.urls[:i+1]...)
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
		return nil, fewShares(len(evals), t, errs)
	}
	return evals, nil
}

// fewShares is the error of a login that gathered have of the t key
// shares it needs after its attempt was counted: what the nodes said, and
// what to do about it.
func fewShares(have, t int, errs []error) error {
	short := fmt.Errorf("%w: %d of the %d key shares the login needs answered", vault.ErrUnreachable, have, t)
	if len(errs) == 0 {
		// Only the begin node is listed: its peers did not answer it
		// in time, and there is no other node to ask.
		return fmt.Errorf("%w; the other vault nodes did not answer the node that took the attempt (try again once the cluster is healthy; --vault may list more nodes, which the client then asks itself)", short)
	}
	var advice []string
	if slices.ContainsFunc(errs, func(e error) bool { return errors.Is(e, vault.ErrUnreachable) }) {
		advice = append(advice, "bring back the vault nodes that did not answer (they may hold the missing shares) and try again")
	}
	if slices.ContainsFunc(errs, func(e error) bool { return errors.Is(e, errNoShare) }) {
		advice = append(advice, "a node that joined the vault after this account's password was set holds none of its shares: set the password again (`chatsafe key set-password`, on a device that has the backup key) to share the key among the current nodes")
	}
	if len(advice) == 0 {
		advice = append(advice, "the nodes listed answered but hold too few of this account's shares: if the vault has nodes that --vault does not list, add them")
	}
	return fmt.Errorf("%w (%s): %w", short, strings.Join(advice, "; "), errors.Join(errs...))
}
