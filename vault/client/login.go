package client

import (
	"context"
	"fmt"

	"github.com/bytemare/opaque"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/vault"
)

// Recover fetches the backup key of account with password and the
// account's handle (from Register; the zero Handle for an account
// registered without one). A wrong password, a wrong handle or an account
// the vault does not know all look the same: a vault.WrongPasswordError.
// An erased record returns vault.ErrErased. After wrong passwords the
// vault may ask to wait: Recover waits by itself up to Options.MaxAutoWait
// and otherwise returns a vault.RetryAfterError.
//
// Answers lost after the vault counted the login's attempt (KE2, the
// wrapped key, key shares) start the login again with the same blinded
// password, which the vault takes as that attempt, on the next node; if
// every try fails, the error matches vault.ErrAttemptKept and the next
// Recover of the same login in this process is that attempt again
// (docs/vault.md, "A retried attempt is the same attempt").
func (c *Client) Recover(ctx context.Context, account string, password []byte, handle vault.Handle) (crypt.Key, error) {
	if err := vault.CheckAccount(account); err != nil {
		return crypt.Key{}, fmt.Errorf("vault account name: %w", err)
	}
	var key crypt.Key
	var err error
	if c.noTOPRF {
		key, err = c.legacyRecover(ctx, account, password, handle)
	} else {
		key, err = c.thresholdRecover(ctx, account, password, handle)
	}
	if err != nil {
		return crypt.Key{}, fmt.Errorf("recovering the backup key of %q: %w", account, err)
	}
	return key, nil
}

// legacyRecover sends KE1 of the password itself in login/start: the
// login of accounts registered before the threshold OPRF. It keeps no KE1
// across calls, so a failure after the vault counted the attempt spent it.
func (c *Client) legacyRecover(ctx context.Context, account string, password []byte, handle vault.Handle) (crypt.Key, error) {
	oc, opts, err := c.opaqueClient()
	if err != nil {
		return crypt.Key{}, err
	}
	defer oc.ClearState()
	ke1, err := oc.GenerateKE1(password)
	if err != nil {
		return crypt.Key{}, fmt.Errorf("starting vault login: %w", err)
	}
	req := vault.LoginStartReq{Account: account, KE1: ke1.Serialize()}
	if !handle.IsZero() {
		req.Handle = handle[:]
	}
	var start vault.LoginStartResp
	base, err := c.retryStart(ctx, c.urls, vault.PathLoginStart, req, &start)
	if err != nil {
		return crypt.Key{}, err
	}
	key, err := c.finishLogin(ctx, oc, opts, base, account, start)
	return key, vault.AttemptSpent(err)
}

// finishLogin answers the KE2 of start (from base) and fetches the wrapped
// key. A KE2 that does not verify is a wrong password: the session is
// aborted and the error is a vault.WrongPasswordError.
func (c *Client) finishLogin(ctx context.Context, oc *opaque.Client, opts *opaque.ClientOptions, base, account string, start vault.LoginStartResp) (crypt.Key, error) {
	var key crypt.Key
	ke2, err := oc.Deserialize.KE2(start.KE2)
	if err != nil || len(start.Session) != vault.SessionIDLen {
		return key, fmt.Errorf("%w: %s: malformed KE2", vault.ErrUnreachable, base)
	}
	ke3, _, exportKey, err := oc.GenerateKE3(ke2, []byte(account), nil, opts)
	if err != nil {
		// Tell the vault now, so that a last attempt erases at once rather
		// than when the session expires. Best effort: the login is over.
		_, _ = c.call(ctx, base, vault.PathLoginAbort, vault.LoginAbortReq{Session: start.Session}, &vault.OKResp{})
		return key, vault.WrongPasswordError{Left: max(start.AttemptsLeft, 0)}
	}
	defer clear(exportKey)
	var fin vault.LoginFinishResp
	if _, err := c.call(ctx, base, vault.PathLoginFinish, vault.LoginFinishReq{Session: start.Session, KE3: ke3.Serialize()}, &fin); err != nil {
		return key, err
	}
	aead, err := wrapAEAD(exportKey, account)
	if err != nil {
		return key, err
	}
	pt, err := aead.Open(nil, fin.WrappedKey, wrapAD(account))
	if err != nil || len(pt) != crypt.KeySize {
		return key, fmt.Errorf("the vault returned a wrapped key that does not open; it was altered, restore with the recovery key: %w", crypt.ErrAuth)
	}
	copy(key[:], pt)
	clear(pt)
	return key, nil
}
