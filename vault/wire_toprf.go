package vault

import "fmt"

// Wire messages of the threshold-OPRF login (docs/vault.md, "Threshold
// OPRF"): login/begin counts the attempt and evaluates the first share,
// login/eval gets further shares from other nodes for that committed
// attempt, login/ke1 runs OPAQUE's KE1→KE2 on the session of begin, and
// login/finish is unchanged.

const (
	PathLoginBegin = "/v1/login/begin"
	PathLoginEval  = "/v1/login/eval"
	PathLoginKE1   = "/v1/login/ke1"
)

// LoginBeginReq counts an attempt for the blinded element.
type LoginBeginReq struct {
	Account string `json:"account"`
	Blinded []byte `json:"blinded"`          // ElementLen
	Handle  []byte `json:"handle,omitempty"` // HandleLen
}

// LoginBeginResp carries this node's evaluation. Threshold 0 marks an
// account registered before the threshold OPRF: the client uses the
// password as is.
type LoginBeginResp struct {
	Session      []byte `json:"session"`
	AttemptsLeft int    `json:"attempts_left"`
	Threshold    int    `json:"threshold"`
	X            int    `json:"x,omitempty"`
	Eval         []byte `json:"eval,omitempty"`
	// Index is the raft index of the committed attempt: another node
	// evaluates once it has applied it.
	Index uint64 `json:"index,omitempty"`
	// Evals are other nodes' evaluations, gathered by this node.
	Evals []Eval `json:"evals,omitempty"`
}

// LoginEvalReq asks another node for its share's evaluation of a blinded
// element whose attempt is committed.
type LoginEvalReq struct {
	Account string `json:"account"`
	Blinded []byte `json:"blinded"`
	Handle  []byte `json:"handle,omitempty"`
	Index   uint64 `json:"index,omitempty"`
}

// LoginEvalResp is one node's evaluation.
type LoginEvalResp struct {
	X    int    `json:"x"`
	Eval []byte `json:"eval"`
}

// LoginKE1Req sends KE1 (built from the hardened password) on the session
// of login/begin.
type LoginKE1Req struct {
	Session []byte `json:"session"`
	KE1     []byte `json:"ke1"`
}

// LoginKE1Resp carries KE2 and the session for login/finish.
type LoginKE1Resp struct {
	Session []byte `json:"session"`
	KE2     []byte `json:"ke2"`
}

func (m *LoginBeginReq) validate() error {
	if err := CheckAccount(m.Account); err != nil {
		return err
	}
	if err := checkHandle(m.Handle); err != nil {
		return err
	}
	return checkLen("blinded", m.Blinded, ElementLen)
}

func (m *LoginEvalReq) validate() error {
	if err := CheckAccount(m.Account); err != nil {
		return err
	}
	if err := checkHandle(m.Handle); err != nil {
		return err
	}
	return checkLen("blinded", m.Blinded, ElementLen)
}

func (m *LoginKE1Req) validate() error {
	if err := checkLen("session", m.Session, SessionIDLen); err != nil {
		return err
	}
	return checkLen("ke1", m.KE1, KE1Len)
}

// checkShares validates the sealed shares of a registration.
func checkShares(shares []SealedShare, t int) error {
	if len(shares) == 0 {
		if t != 0 {
			return fmt.Errorf("%w: threshold without shares", ErrBadMessage)
		}
		return nil
	}
	if len(shares) > MaxShares || t < 1 || t > len(shares) {
		return fmt.Errorf("%w: %d shares with threshold %d", ErrBadMessage, len(shares), t)
	}
	seenX, seenNode := map[int]bool{}, map[string]bool{}
	for _, s := range shares {
		if s.X < 1 || s.X > MaxShares || seenX[s.X] || s.Node == "" || len(s.Node) > maxNodeIDLen || seenNode[s.Node] {
			return fmt.Errorf("%w: share indexes and nodes must be distinct", ErrBadMessage)
		}
		if len(s.Sealed) == 0 || len(s.Sealed) > MaxSealedShareLen {
			return fmt.Errorf("%w: a sealed share must be 1 to %d bytes", ErrBadMessage, MaxSealedShareLen)
		}
		seenX[s.X], seenNode[s.Node] = true, true
	}
	return nil
}
