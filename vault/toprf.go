package vault

import (
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/bytemare/ecc"
)

// The threshold OPRF that hardens the password before OPAQUE sees it
// (docs/vault.md, "Threshold OPRF"). The client turns the password into
//
//	pw' = H(account, pw, k·H2G(account, pw))
//
// where k is Shamir-shared t of n across the vault nodes: each node holds
// only its share k_i and evaluates k_i·B on the client's blinded element B
// after the attempt is committed; the client combines t evaluations with
// Lagrange coefficients in the exponent and unblinds. OPAQUE then runs
// unchanged with pw'. Only the protocol glue is written here: the group is
// bytemare/ecc's ristretto255, the share encryption RFC 9180 HPKE from the
// standard library.

// TOPRFGroup is the group of the threshold OPRF.
const TOPRFGroup = ecc.Ristretto255Sha512

// Sizes of the threshold OPRF's wire fields.
const (
	ElementLen = 32 // an encoded ristretto255 element
	// SharePKLen is a node's X25519 share public key.
	SharePKLen = 32
	// MaxShares bounds the nodes an account's key is shared across.
	MaxShares = 16
	// MaxSealedShareLen bounds one HPKE-sealed share (enc 32 + scalar 32 + tag 16).
	MaxSealedShareLen = 128
	maxNodeIDLen      = 64
)

var (
	toprfDST  = []byte("chatsafe-vault-toprf-v1-HashToGroup")
	toprfInfo = "chatsafe-vault-toprf-share-v1"
)

// toprfInput is the OPRF input: the account name and the password, each
// length-prefixed so that no two pairs give the same bytes.
func toprfInput(account string, password []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(account)))
	b = append(b, account...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(password)))
	return append(b, password...)
}

// TOPRFBlind is the client's side of one evaluation: the blind r and the
// blinded element B = r·H2G(input).
type TOPRFBlind struct {
	r       *ecc.Scalar
	Blinded []byte
	input   []byte
}

// NewTOPRFBlind blinds the password of account with a fresh random r.
func NewTOPRFBlind(account string, password []byte) *TOPRFBlind {
	g := TOPRFGroup
	in := toprfInput(account, password)
	r := g.NewScalar().Random()
	return &TOPRFBlind{r: r, input: in, Blinded: g.HashToGroup(in, toprfDST).Multiply(r).Encode()}
}

// Wipe zeroes the blind r and the input (the account and the plaintext
// password) in place; a wiped blind does not Finish. Best effort: copies
// the scalar library made while blinding are not ours to clear.
func (b *TOPRFBlind) Wipe() {
	if b == nil {
		return
	}
	if b.r != nil {
		b.r.Zero()
	}
	clear(b.input)
}

// errBlindWiped is Finish on a wiped blind.
var errBlindWiped = errors.New("vault: the login's blind was wiped")

// Eval is one node's evaluation k_x·B of a blinded element, x being the
// node's share index.
type Eval struct {
	X       int    `json:"x"`
	Element []byte `json:"eval"`
}

// Finish combines t evaluations (distinct X) into k·B, unblinds it and
// derives pw'. A wrong evaluation (a faulty or lying node) gives a wrong
// pw', which OPAQUE then rejects like a wrong password.
func (b *TOPRFBlind) Finish(evals []Eval) ([]byte, error) {
	if b.r.IsZero() {
		return nil, errBlindWiped
	}
	g := TOPRFGroup
	xs := make([]int, len(evals))
	for i, e := range evals {
		xs[i] = e.X
	}
	// Σ (λ_i · r⁻¹) · E_i: unblinding folded into the coefficients.
	rInv := b.r.Copy().Invert()
	n := g.NewElement() // the identity
	for i, e := range evals {
		el, err := DecodeElement(e.Element)
		if err != nil {
			return nil, fmt.Errorf("evaluation of share %d: %w", e.X, err)
		}
		l, err := Lagrange(xs, i)
		if err != nil {
			return nil, err
		}
		n.Add(el.Multiply(l.Multiply(rInv)))
	}
	return toprfFinalize(b.input, n.Encode()), nil
}

// toprfFinalize hashes the input with the unblinded OPRF output.
func toprfFinalize(input, n []byte) []byte {
	h := sha512.New()
	h.Write([]byte("chatsafe-vault-toprf-v1-Finalize"))
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(input))))
	h.Write(input)
	h.Write(n)
	return h.Sum(nil)
}

// TOPRFDirect computes pw' with the whole key k in hand: what the client
// does at registration, where it deals the shares itself.
func TOPRFDirect(k *ecc.Scalar, account string, password []byte) []byte {
	in := toprfInput(account, password)
	return toprfFinalize(in, TOPRFGroup.HashToGroup(in, toprfDST).Multiply(k).Encode())
}

// DecodeElement decodes a group element, refusing the identity.
func DecodeElement(b []byte) (*ecc.Element, error) {
	e := TOPRFGroup.NewElement()
	if len(b) != ElementLen || e.Decode(b) != nil || e.IsIdentity() {
		return nil, errors.New("not a valid ristretto255 element")
	}
	return e, nil
}

// EvaluateShare is a node's evaluation of its share on a blinded element.
func EvaluateShare(share *ecc.Scalar, blinded []byte) ([]byte, error) {
	b, err := DecodeElement(blinded)
	if err != nil {
		return nil, fmt.Errorf("%w: blinded element: %v", ErrBadMessage, err)
	}
	return b.Multiply(share).Encode(), nil
}

// Shamir sharing of a scalar: a polynomial f of degree t-1 with f(0) = k,
// share x is f(x). Written here because no Shamir package for these
// scalars can be pinned in this module; it is a polynomial evaluation and
// the Lagrange coefficients, both checked by tests.

// Polynomial evaluates the polynomial with coefficients coef (coef[0] the
// secret) at x.
func Polynomial(coef []*ecc.Scalar, x int) *ecc.Scalar {
	g := TOPRFGroup
	xs := g.NewScalar().SetUInt64(uint64(x))
	acc := g.NewScalar()
	for i := len(coef) - 1; i >= 0; i-- {
		acc.Multiply(xs).Add(coef[i])
	}
	return acc
}

// Lagrange is the coefficient of share xs[i] that interpolates f(0) from
// the shares at xs (distinct, non-zero).
func Lagrange(xs []int, i int) (*ecc.Scalar, error) {
	g := TOPRFGroup
	num, den := g.NewScalar().One(), g.NewScalar().One()
	xi := g.NewScalar().SetUInt64(uint64(xs[i]))
	for j, x := range xs {
		if j == i {
			continue
		}
		if x == xs[i] || x <= 0 {
			return nil, errors.New("share indexes must be distinct and positive")
		}
		xj := g.NewScalar().SetUInt64(uint64(x))
		num.Multiply(xj)
		den.Multiply(xj.Copy().Subtract(xi))
	}
	return num.Multiply(den.Invert()), nil
}

// Threshold is how many of n shares recover the key: a majority, so that
// any quorum can log in and no minority can.
func Threshold(n int) int { return n/2 + 1 }

// ShareNode is a node that holds shares: its id and HPKE public key.
type ShareNode struct {
	ID string `json:"id"`
	PK []byte `json:"pk"`
}

// SealedShare is one node's share of an account's key, sealed (HPKE) to
// that node's share key: only that node can open it.
type SealedShare struct {
	Node   string `json:"node"`
	X      int    `json:"x"`
	Sealed []byte `json:"sealed"`
}

func shareSuite() (hpke.KEM, hpke.KDF, hpke.AEAD) {
	return hpke.DHKEM(ecdh.X25519()), hpke.HKDFSHA256(), hpke.ChaCha20Poly1305()
}

// ShareInfo binds a sealed share to its account, node and index.
func ShareInfo(account, node string, x, t int) []byte {
	b := []byte(toprfInfo)
	b = binary.BigEndian.AppendUint32(b, uint32(len(account)))
	b = append(b, account...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(node)))
	b = append(b, node...)
	b = binary.BigEndian.AppendUint32(b, uint32(x))
	return binary.BigEndian.AppendUint32(b, uint32(t))
}

// NewTOPRFKey draws a fresh threshold OPRF key (the client deals it).
func NewTOPRFKey() *ecc.Scalar { return TOPRFGroup.NewScalar().Random() }

// DealShares shares k t of len(nodes), node i getting index i+1, each
// share sealed to that node's key. t is minT (the vault's threshold, a
// majority of its members), and never less than a majority of the nodes
// listed.
func DealShares(k *ecc.Scalar, account string, nodes []ShareNode, minT int) ([]SealedShare, int, error) {
	if len(nodes) == 0 || len(nodes) > MaxShares {
		return nil, 0, fmt.Errorf("the vault lists %d nodes for key shares; 1 to %d are possible", len(nodes), MaxShares)
	}
	t := max(minT, Threshold(len(nodes)))
	if t > len(nodes) {
		return nil, 0, fmt.Errorf("the vault asks for %d of %d key shares; that cannot be met", t, len(nodes))
	}
	g := TOPRFGroup
	coef := make([]*ecc.Scalar, t)
	coef[0] = k
	for i := 1; i < t; i++ {
		coef[i] = g.NewScalar().Random()
	}
	kem, kdf, aead := shareSuite()
	out := make([]SealedShare, len(nodes))
	for i, n := range nodes {
		pk, err := kem.NewPublicKey(n.PK)
		if err != nil {
			return nil, 0, fmt.Errorf("vault node %q has a malformed share key: %w", n.ID, err)
		}
		s := Polynomial(coef, i+1).Encode()
		ct, err := hpke.Seal(pk, kdf, aead, ShareInfo(account, n.ID, i+1, t), s)
		clear(s)
		if err != nil {
			return nil, 0, fmt.Errorf("sealing a key share to vault node %q: %w", n.ID, err)
		}
		out[i] = SealedShare{Node: n.ID, X: i + 1, Sealed: ct}
	}
	return out, t, nil
}

// OpenShare opens a share sealed to the holder of priv.
func OpenShare(priv hpke.PrivateKey, account string, s SealedShare, t int) (*ecc.Scalar, error) {
	_, kdf, aead := shareSuite()
	pt, err := hpke.Open(priv, kdf, aead, ShareInfo(account, s.Node, s.X, t), s.Sealed)
	if err != nil {
		return nil, fmt.Errorf("opening the key share of node %q: %w", s.Node, err)
	}
	defer clear(pt)
	k := TOPRFGroup.NewScalar()
	if err := k.Decode(pt); err != nil {
		return nil, fmt.Errorf("key share of node %q is corrupt: %w", s.Node, err)
	}
	return k, nil
}

// ShareKEM is the KEM of the nodes' share keys (X25519).
func ShareKEM() hpke.KEM {
	kem, _, _ := shareSuite()
	return kem
}
