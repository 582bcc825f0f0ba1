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
	pathRegisterStart  = "/v1/register/start"
	pathRegisterFinish = "/v1/register/finish"
	pathLoginStart     = "/v1/login/start"
	pathLoginFinish    = "/v1/login/finish"
	pathLoginAbort     = "/v1/login/abort"
	pathDelete         = "/v1/delete"

	// maxBodyBytes bounds every request body (the largest message, a
	// registration record plus wrapped key, is well under 1 KiB of base64).
	maxBodyBytes = 8 << 10
	// maxAccountBytes bounds account names.
	maxAccountBytes = 256
	// sessionIDLen is the size of the random KE2→KE3 session handle.
	sessionIDLen = 32
	// ownerTokenLen is the size of the owner token (a 256-bit MAC).
	ownerTokenLen = 32
	// maxWrappedKeyLen bounds the client-sealed backup key.
	maxWrappedKeyLen = 256

	// OPAQUE message sizes for ristretto255/SHA-512 (RFC 9807 section 4).
	regRequestLen  = 32
	regResponseLen = 64
	regRecordLen   = 32 + 64 + 32 + 64                  // client pk, masking key, envelope (nonce + MAC)
	ke1Len         = 32 + 32 + 32                       // blinded element, client nonce, client key share
	ke2Len         = 32 + 32 + (32 + 96) + 32 + 32 + 64 // evaluation, masking nonce, masked response, key share, nonce, MAC
	ke3Len         = 64
)

type registerStartReq struct {
	Account    string `json:"account"`
	Request    []byte `json:"request"`
	OwnerToken []byte `json:"owner_token"`
}

type registerStartResp struct {
	Session  []byte `json:"session"`
	Response []byte `json:"response"`
}

type registerFinishReq struct {
	Session    []byte `json:"session"`
	Record     []byte `json:"record"`
	WrappedKey []byte `json:"wrapped_key"`
	OwnerToken []byte `json:"owner_token"`
}

type loginStartReq struct {
	Account string `json:"account"`
	KE1     []byte `json:"ke1"`
}

type loginStartResp struct {
	Session      []byte `json:"session"`
	KE2          []byte `json:"ke2"`
	AttemptsLeft int    `json:"attempts_left"`
}

type loginFinishReq struct {
	Session []byte `json:"session"`
	KE3     []byte `json:"ke3"`
}

type loginFinishResp struct {
	WrappedKey []byte `json:"wrapped_key"`
}

type loginAbortReq struct {
	Session []byte `json:"session"`
}

type deleteReq struct {
	Account    string `json:"account"`
	OwnerToken []byte `json:"owner_token"`
}

// okResp is the body of requests that return nothing else.
type okResp struct {
	OK bool `json:"ok"`
}

// errorResp is the body of every non-2xx answer.
type errorResp struct {
	Error        string `json:"error"`
	Message      string `json:"message"`
	AttemptsLeft *int   `json:"attempts_left,omitempty"`
}

// Error codes on the wire.
const (
	codeBadRequest    = "bad_request"
	codeWrongPassword = "wrong_password"
	codeErased        = "erased"
	codeNotOwner      = "not_owner"
	codeNotFound      = "not_found"
	codeRateLimited   = "rate_limited"
	codeNoSession     = "no_session"
	codeInternal      = "internal"
	codeNoQuorum      = "no_quorum" // 503: a cluster node cannot commit now
)

// errBadMessage marks a request that failed strict decoding or validation.
var errBadMessage = errors.New("bad message")

// decodeStrict decodes exactly one JSON object from r into v, rejecting
// unknown fields and trailing data.
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", errBadMessage, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data after the JSON object", errBadMessage)
	}
	return nil
}

func checkAccount(a string) error {
	if a == "" || len(a) > maxAccountBytes {
		return fmt.Errorf("%w: account name must be 1 to %d bytes", errBadMessage, maxAccountBytes)
	}
	if !utf8.ValidString(a) {
		return fmt.Errorf("%w: account name is not valid UTF-8", errBadMessage)
	}
	for _, r := range a {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: account name contains a control character", errBadMessage)
		}
	}
	return nil
}

func checkLen(name string, b []byte, n int) error {
	if len(b) != n {
		return fmt.Errorf("%w: %s must be %d bytes, got %d", errBadMessage, name, n, len(b))
	}
	return nil
}

func (m *registerStartReq) validate() error {
	if err := checkAccount(m.Account); err != nil {
		return err
	}
	if m.OwnerToken != nil {
		if err := checkLen("owner_token", m.OwnerToken, ownerTokenLen); err != nil {
			return err
		}
	}
	return checkLen("request", m.Request, regRequestLen)
}

func (m *registerFinishReq) validate() error {
	if err := checkLen("session", m.Session, sessionIDLen); err != nil {
		return err
	}
	if err := checkLen("record", m.Record, regRecordLen); err != nil {
		return err
	}
	if err := checkLen("owner_token", m.OwnerToken, ownerTokenLen); err != nil {
		return err
	}
	if len(m.WrappedKey) == 0 || len(m.WrappedKey) > maxWrappedKeyLen {
		return fmt.Errorf("%w: wrapped_key must be 1 to %d bytes", errBadMessage, maxWrappedKeyLen)
	}
	return nil
}

func (m *loginStartReq) validate() error {
	if err := checkAccount(m.Account); err != nil {
		return err
	}
	return checkLen("ke1", m.KE1, ke1Len)
}

func (m *loginFinishReq) validate() error {
	if err := checkLen("session", m.Session, sessionIDLen); err != nil {
		return err
	}
	return checkLen("ke3", m.KE3, ke3Len)
}

func (m *loginAbortReq) validate() error { return checkLen("session", m.Session, sessionIDLen) }

func (m *deleteReq) validate() error {
	if err := checkAccount(m.Account); err != nil {
		return err
	}
	return checkLen("owner_token", m.OwnerToken, ownerTokenLen)
}

type validator interface{ validate() error }

// decodeRequest strictly decodes and validates one request body.
func decodeRequest(body []byte, v validator) error {
	if len(body) > maxBodyBytes {
		return fmt.Errorf("%w: body larger than %d bytes", errBadMessage, maxBodyBytes)
	}
	if err := decodeStrict(bytes.NewReader(body), v); err != nil {
		return err
	}
	return v.validate()
}
