package vault

import (
	"errors"
	"fmt"
)

// The head record: the vault as a backup repository's commit point. Each
// account holds the newest head its owner committed, moved by
// compare-and-swap through the replicated log, so two devices cannot both
// commit one sequence and a device that knows nothing locally can tell a
// remote serving an older head (docs/vault.md, "Head record").

// PathHead reads (Next absent) or advances (Next present) the head record.
const PathHead = "/v1/head"

// CodeHeadMoved answers an advance whose Prev is not the recorded head
// (409); the body's Head is the recorded one.
const CodeHeadMoved = "head_moved"

// Sizes of the head record's fields.
const (
	HeadDeltaLen   = 16
	HeadTrailerLen = 32
	HeadDeviceLen  = 16
)

// ErrHeadMoved means the recorded head is not the one the advance started
// from: another device committed in between.
var ErrHeadMoved = errors.New("the vault records another head: another device committed since")

// HeadRecord is a repository head as the vault stores it. The zero record
// (Seq 0, no fields) is "none yet".
type HeadRecord struct {
	Seq         uint64 `json:"seq"`
	Delta       []byte `json:"delta,omitempty"`
	TrailerHash []byte `json:"trailer_hash,omitempty"`
	Device      []byte `json:"device,omitempty"`
}

// IsZero reports the empty record.
func (h HeadRecord) IsZero() bool {
	return h.Seq == 0 && len(h.Delta) == 0 && len(h.TrailerHash) == 0 && len(h.Device) == 0
}

func (h *HeadRecord) validate() error {
	if h == nil || h.IsZero() {
		return nil
	}
	if err := checkLen("head.delta", h.Delta, HeadDeltaLen); err != nil {
		return err
	}
	if err := checkLen("head.trailer_hash", h.TrailerHash, HeadTrailerLen); err != nil {
		return err
	}
	return checkLen("head.device", h.Device, HeadDeviceLen)
}

// HeadReq reads or advances an account's head record. OwnerToken (from the
// backup key) and Handle (the account's vault handle, when it has one)
// authorise it, as they do a re-registration.
type HeadReq struct {
	Account    string      `json:"account"`
	OwnerToken []byte      `json:"owner_token"`
	Handle     []byte      `json:"handle,omitempty"`
	Prev       *HeadRecord `json:"prev,omitempty"`
	Next       *HeadRecord `json:"next,omitempty"`
}

// HeadResp carries the recorded head (after the advance, if one was asked)
// and what the vault holds of the account's password (nil from a vault
// from before it said so).
type HeadResp struct {
	Head    HeadRecord   `json:"head"`
	Account *HeadAccount `json:"account,omitempty"`
}

// HeadAccount is the vault's attempt counter of the account, told to its
// owner (who proved it with the owner token and the handle) with every
// head read and advance: a device that backs up learns when its password
// is being guessed, or was erased, without logging in. It is the counter
// the vault keeps anyway; the vault learns nothing from telling it.
type HeadAccount struct {
	// Erased: the vault erased the key after too many wrong passwords;
	// password recovery no longer works until a new password is set.
	Erased bool `json:"erased,omitempty"`
	// Failed is how many wrong passwords the vault counted since the
	// password last worked (or was set), Left how many more it takes
	// before it erases the key.
	Failed int `json:"failed"`
	Left   int `json:"attempts_left"`
}

func (m *HeadReq) validate() error {
	if err := CheckAccount(m.Account); err != nil {
		return err
	}
	if err := checkLen("owner_token", m.OwnerToken, OwnerTokenLen); err != nil {
		return err
	}
	if err := checkHandle(m.Handle); err != nil {
		return err
	}
	if err := m.Prev.validate(); err != nil {
		return err
	}
	if m.Next != nil && m.Next.IsZero() {
		return fmt.Errorf("%w: next must be a head", ErrBadMessage)
	}
	return m.Next.validate()
}

// HeadMovedError carries the head the vault records instead. It matches
// ErrHeadMoved.
type HeadMovedError struct{ Head HeadRecord }

func (e HeadMovedError) Error() string {
	return fmt.Sprintf("%v (it records sequence %d)", ErrHeadMoved, e.Head.Seq)
}

// Is makes errors.Is(err, ErrHeadMoved) true.
func (e HeadMovedError) Is(target error) bool { return target == ErrHeadMoved }
