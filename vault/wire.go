package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"
)

// The wire protocol: JSON objects over HTTPS POST, binary fields as standard
// base64 (encoding/json's []byte encoding). Decoding is strict: unknown
// fields, trailing data, oversize bodies and fields of the wrong length are
// rejected before any OPAQUE parsing or state change.

const (
	PathRegisterStart  = "/v1/register/start"
	PathRegisterFinish = "/v1/register/finish"
	PathLoginStart     = "/v1/login/start"
	PathLoginFinish    = "/v1/login/finish"
	PathLoginAbort     = "/v1/login/abort"
	PathDelete         = "/v1/delete"

	// MaxBodyBytes bounds every request body (the largest message, a
	// registration record plus wrapped key, is well under 1 KiB of base64).
	MaxBodyBytes = 8 << 10
	// MaxAccountBytes bounds account names.
	MaxAccountBytes = 256
	// SessionIDLen is the size of the random KE2→KE3 session handle.
	SessionIDLen = 32
	// OwnerTokenLen is the size of the owner token (a 256-bit MAC).
	OwnerTokenLen = 32
	// MaxWrappedKeyLen bounds the client-sealed backup key.
	MaxWrappedKeyLen = 256

	// OPAQUE message sizes for ristretto255/SHA-512 (RFC 9807 section 4).
	RegRequestLen  = 32
	RegResponseLen = 64
	RegRecordLen   = 32 + 64 + 32 + 64                  // client pk, masking key, envelope (nonce + MAC)
	KE1Len         = 32 + 32 + 32                       // blinded element, client nonce, client key share
	KE2Len         = 32 + 32 + (32 + 96) + 32 + 32 + 64 // evaluation, masking nonce, masked response, key share, nonce, MAC
	KE3Len         = 64
)

type RegisterStartReq struct {
	Account    string `json:"account"`
	Request    []byte `json:"request"`
	OwnerToken []byte `json:"owner_token"`
}

type RegisterStartResp struct {
	Session  []byte `json:"session"`
	Response []byte `json:"response"`
	// ShareNodes are the nodes the client shares the account's threshold
	// OPRF key across (sorted by id); empty from a vault without it.
	ShareNodes []ShareNode `json:"share_nodes,omitempty"`
	// Threshold is how many shares the vault requires: a majority of its
	// members, even when fewer have published share keys.
	Threshold int `json:"threshold,omitempty"`
}

type RegisterFinishReq struct {
	Session    []byte `json:"session"`
	Record     []byte `json:"record"`
	WrappedKey []byte `json:"wrapped_key"`
	OwnerToken []byte `json:"owner_token"`
	Handle     []byte `json:"handle,omitempty"` // HandleLen; absent: an account without a handle
	// Shares of the threshold OPRF key, each sealed to its node, and how
	// many recover it; none: an account whose password goes to OPAQUE as is.
	Shares    []SealedShare `json:"shares,omitempty"`
	Threshold int           `json:"threshold,omitempty"`
	// NewOwnerToken, when present, becomes the account's owner token:
	// OwnerToken (the old key's) authorises, this one (the new key's) is
	// stored. A key rotation moves the account to its new key this way.
	NewOwnerToken []byte `json:"new_owner_token,omitempty"`
}

type LoginStartReq struct {
	Account string `json:"account"`
	KE1     []byte `json:"ke1"`
	Handle  []byte `json:"handle,omitempty"` // HandleLen, when the owner has one
}

type LoginStartResp struct {
	Session      []byte `json:"session"`
	KE2          []byte `json:"ke2"`
	AttemptsLeft int    `json:"attempts_left"`
}

type LoginFinishReq struct {
	Session []byte `json:"session"`
	KE3     []byte `json:"ke3"`
}

type LoginFinishResp struct {
	WrappedKey []byte `json:"wrapped_key"`
}

type LoginAbortReq struct {
	Session []byte `json:"session"`
}

type DeleteReq struct {
	Account    string `json:"account"`
	OwnerToken []byte `json:"owner_token"`
}

// OKResp is the body of requests that return nothing else.
type OKResp struct {
	OK bool `json:"ok"`
}

// ErrorResp is the body of every non-2xx answer.
type ErrorResp struct {
	Error        string `json:"error"`
	Message      string `json:"message"`
	AttemptsLeft *int   `json:"attempts_left,omitempty"`
	// RetryAfterMS is the wait before the next attempt (CodeTooSoon).
	RetryAfterMS int64 `json:"retry_after_ms,omitempty"`
}

// Error codes on the wire.
const (
	CodeBadRequest    = "bad_request"
	CodeWrongPassword = "wrong_password"
	CodeErased        = "erased"
	CodeNotOwner      = "not_owner"
	CodeNotFound      = "not_found"
	CodeRateLimited   = "rate_limited"
	CodeNoSession     = "no_session"
	CodeInternal      = "internal"
	CodeNoQuorum      = "no_quorum" // 503: a cluster node cannot commit now
	CodeTooSoon       = "too_soon"  // 429: wait RetryAfterMS after wrong passwords
	// CodeAttemptSpent (409): a login/begin sent again whose attempt the
	// vault counted already, on an account registered before the threshold
	// OPRF, which cannot take it again (docs/vault.md, "Attempt counting").
	CodeAttemptSpent = "attempt_spent"
	// CodeFewShareHolders (503): a login/begin refused before counting
	// anything: fewer of the nodes that hold the account's key shares
	// answer than its threshold needs (docs/vault.md, "Membership").
	CodeFewShareHolders = "few_share_holders"
	// CodeHoldersGone (410): a login/begin refused before counting
	// anything: fewer of the nodes that hold the account's key shares are
	// still members of the cluster than its threshold needs, so no wait
	// helps: the password no longer opens the key (docs/vault.md,
	// "Membership"). Only the cluster's leader says it, on a current view;
	// a follower answers few_share_holders instead.
	CodeHoldersGone = "share_holders_gone"
	// CodeNoShare (404): login/eval on a node that holds no share of the
	// account's key (it joined after the account's password was set).
	CodeNoShare = "no_share"
)

// ErrBadMessage marks a request that failed strict decoding or validation.
var ErrBadMessage = errors.New("bad message")

// decodeStrict decodes exactly one JSON object from r into v, rejecting
// unknown fields and trailing data.
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data after the JSON object", ErrBadMessage)
	}
	return nil
}

func CheckAccount(a string) error {
	if a == "" || len(a) > MaxAccountBytes {
		return fmt.Errorf("%w: account name must be 1 to %d bytes", ErrBadMessage, MaxAccountBytes)
	}
	if !utf8.ValidString(a) {
		return fmt.Errorf("%w: account name is not valid UTF-8", ErrBadMessage)
	}
	for _, r := range a {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: account name contains a control character", ErrBadMessage)
		}
	}
	return nil
}

func checkLen(name string, b []byte, n int) error {
	if len(b) != n {
		return fmt.Errorf("%w: %s must be %d bytes, got %d", ErrBadMessage, name, n, len(b))
	}
	return nil
}

func (m *RegisterStartReq) validate() error {
	if err := CheckAccount(m.Account); err != nil {
		return err
	}
	if m.OwnerToken != nil {
		if err := checkLen("owner_token", m.OwnerToken, OwnerTokenLen); err != nil {
			return err
		}
	}
	return checkLen("request", m.Request, RegRequestLen)
}

func (m *RegisterFinishReq) validate() error {
	if err := checkLen("session", m.Session, SessionIDLen); err != nil {
		return err
	}
	if err := checkLen("record", m.Record, RegRecordLen); err != nil {
		return err
	}
	if err := checkLen("owner_token", m.OwnerToken, OwnerTokenLen); err != nil {
		return err
	}
	if len(m.WrappedKey) == 0 || len(m.WrappedKey) > MaxWrappedKeyLen {
		return fmt.Errorf("%w: wrapped_key must be 1 to %d bytes", ErrBadMessage, MaxWrappedKeyLen)
	}
	if m.NewOwnerToken != nil {
		if err := checkLen("new_owner_token", m.NewOwnerToken, OwnerTokenLen); err != nil {
			return err
		}
	}
	if err := checkShares(m.Shares, m.Threshold); err != nil {
		return err
	}
	return checkHandle(m.Handle)
}

func checkHandle(h []byte) error {
	if h == nil {
		return nil
	}
	return checkLen("handle", h, HandleLen)
}

func (m *LoginStartReq) validate() error {
	if err := CheckAccount(m.Account); err != nil {
		return err
	}
	if err := checkHandle(m.Handle); err != nil {
		return err
	}
	return checkLen("ke1", m.KE1, KE1Len)
}

func (m *LoginFinishReq) validate() error {
	if err := checkLen("session", m.Session, SessionIDLen); err != nil {
		return err
	}
	return checkLen("ke3", m.KE3, KE3Len)
}

func (m *LoginAbortReq) validate() error { return checkLen("session", m.Session, SessionIDLen) }

func (m *DeleteReq) validate() error {
	if err := CheckAccount(m.Account); err != nil {
		return err
	}
	return checkLen("owner_token", m.OwnerToken, OwnerTokenLen)
}

type Validator interface{ validate() error }

// DecodeRequest strictly decodes and validates one request body.
func DecodeRequest(body []byte, v Validator) error {
	if len(body) > MaxBodyBytes {
		return fmt.Errorf("%w: body larger than %d bytes", ErrBadMessage, MaxBodyBytes)
	}
	if err := decodeStrict(bytes.NewReader(body), v); err != nil {
		return err
	}
	return v.validate()
}
