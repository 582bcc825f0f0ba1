package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/bytemare/opaque"
	"github.com/bytemare/opaque/message"

	"github.com/chatsafe/chatsafe/vault"
)

// engine holds the server side of OPAQUE and the secrets it needs, all
// unsealed from the store at start-up.
type engine struct {
	conf     *opaque.Configuration
	server   *opaque.Server
	indexKey []byte // keys the account-name hash used as database key
	ghostKey []byte // seeds the stable fake records of unknown accounts
	ghostPK  []byte // client public key of every fake record

	// dummySealed is account secrets sealed under dummyID, opened for an
	// unknown name so that it costs the same unseal (a round trip to a
	// network HSM) as a known one.
	dummyID     [32]byte
	dummySealed []byte
}

// sealDummy makes the sealed secrets a ghost login opens instead of a
// real account's: random values of the real sizes.
func (e *engine) sealDummy(mk MasterKey) error {
	parts := make([][]byte, 4)
	for i, n := range []int{32, 32, vault.RegRecordLen, 72} {
		b, err := randomBytes(n)
		if err != nil {
			return err
		}
		parts[i] = b
	}
	copy(e.dummyID[:], parts[0])
	sealed, err := e.sealSecrets(mk, e.dummyID, &accountSecrets{OPRFKey: parts[1], Record: parts[2], WrappedKey: parts[3]})
	if err != nil {
		return fmt.Errorf("sealing the stand-in secrets for unknown accounts: %w", err)
	}
	e.dummySealed = sealed
	return nil
}

// openDummy does the unseal a known account's login does, for a ghost.
func (e *engine) openDummy(mk MasterKey) {
	if s, err := e.openSecrets(mk, e.dummyID, e.dummySealed); err == nil {
		clear(s.OPRFKey)
		clear(s.WrappedKey)
	}
}

// accountSecrets is what a registered account's record holds, sealed by the
// master key as one blob.
type accountSecrets struct {
	OPRFKey    []byte `json:"oprf_key"` // random per-account OPRF key (ristretto255 scalar)
	Record     []byte `json:"record"`   // OPAQUE registration record
	WrappedKey []byte `json:"wrapped"`  // backup key sealed by the client under its export key
	// Shares of the account's threshold OPRF key, each sealed to its node
	// (none for an account registered before it), and how many recover it.
	Shares    []vault.SealedShare `json:"shares,omitempty"`
	Threshold int                 `json:"t,omitempty"`
}

func newEngine(ctx context.Context, st stateMachine, mk MasterKey) (*engine, error) {
	conf := vault.OpaqueConfig()
	g := conf.AKE.Group()
	skBytes, err := metaSecret(ctx, st, mk, "opaque_server_key", func() ([]byte, error) {
		sk, _ := conf.KeyGen()
		return sk.Encode(), nil
	})
	if err != nil {
		return nil, err
	}
	sk := g.NewScalar()
	if err := sk.Decode(skBytes); err != nil {
		return nil, fmt.Errorf("vault OPAQUE server key is corrupt: %w", err)
	}
	indexKey, err := metaSecret(ctx, st, mk, "index_key", func() ([]byte, error) { return randomBytes(32) })
	if err != nil {
		return nil, err
	}
	ghostKey, err := metaSecret(ctx, st, mk, "ghost_key", func() ([]byte, error) { return randomBytes(64) })
	if err != nil {
		return nil, err
	}
	srv, err := conf.Server()
	if err != nil {
		return nil, fmt.Errorf("setting up OPAQUE: %w", err)
	}
	skm := &opaque.ServerKeyMaterial{
		PrivateKey:     sk,
		PublicKeyBytes: g.Base().Multiply(sk).Encode(),
		// The global seed only derives OPRF keys of unknown accounts; every
		// registered account has its own random OPRF key.
		OPRFGlobalSeed: ghostKey,
	}
	if err := srv.SetKeyMaterial(skm); err != nil {
		return nil, fmt.Errorf("setting up OPAQUE: %w", err)
	}
	ghostPK := g.HashToGroup(ghostKey, []byte("chatsafe-vault-ghost-pk-v1")).Encode()
	return &engine{conf: conf, server: srv, indexKey: indexKey, ghostKey: ghostKey, ghostPK: ghostPK}, nil
}

// accountID is the database key of an account name: a keyed hash, so the
// database does not list account names.
func (e *engine) accountID(account string) [32]byte {
	m := hmac.New(sha256.New, e.indexKey)
	m.Write([]byte(account))
	var id [32]byte
	copy(id[:], m.Sum(nil))
	return id
}

func secretsAD(id [32]byte) []byte {
	return append([]byte("chatsafe-vault/account/v1/"), id[:]...)
}

func equalHash(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

func ownerHash(token []byte) []byte {
	h := sha256.Sum256(token)
	return h[:]
}

func (e *engine) sealSecrets(mk MasterKey, id [32]byte, s *accountSecrets) ([]byte, error) {
	pt, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	return mk.Seal(pt, secretsAD(id))
}

func (e *engine) openSecrets(mk MasterKey, id [32]byte, sealed []byte) (*accountSecrets, error) {
	pt, err := mk.Open(sealed, secretsAD(id))
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	var s accountSecrets
	if err := json.Unmarshal(pt, &s); err != nil {
		return nil, fmt.Errorf("vault account secrets are corrupt: %w", err)
	}
	return &s, nil
}

// registrationResponse evaluates the OPRF on a registration request under a
// fresh random OPRF key and returns the response and that key.
func (e *engine) registrationResponse(reqBytes []byte, id [32]byte) (resp, oprfKey []byte, err error) {
	req, err := e.server.Deserialize.RegistrationRequest(reqBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: registration request: %v", vault.ErrBadMessage, err)
	}
	k := e.conf.OPRF.Group().NewScalar().Random()
	r, err := e.server.RegistrationResponse(req, id[:], k)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: registration request: %v", vault.ErrBadMessage, err)
	}
	return r.Serialize(), k.Encode(), nil
}

// checkRecord parses a registration record from a client.
func (e *engine) checkRecord(rec []byte) error {
	if _, err := e.server.Deserialize.RegistrationRecord(rec); err != nil {
		return fmt.Errorf("%w: registration record: %v", vault.ErrBadMessage, err)
	}
	return nil
}

// ke2 answers KE1 for account. With secrets == nil (unknown account) it
// answers from a fake record derived from the ghost key and the account id,
// stable across requests like a real record, so the answer has the same
// shape, size and OPRF behaviour as a real one.
func (e *engine) ke2(ke1 *message.KE1, account string, id [32]byte, secrets *accountSecrets) (ke2, clientMAC []byte, err error) {
	rec := &opaque.ClientRecord{CredentialIdentifier: id[:], ClientIdentity: []byte(account)}
	var opts *opaque.ServerOptions
	if secrets != nil {
		rr, err := e.server.Deserialize.RegistrationRecord(secrets.Record)
		if err != nil {
			return nil, nil, fmt.Errorf("stored OPAQUE record: %w", err)
		}
		k, err := opaque.DeserializeScalar(e.conf.OPRF.Group(), secrets.OPRFKey)
		if err != nil {
			return nil, nil, fmt.Errorf("stored OPRF key: %w", err)
		}
		rec.RegistrationRecord = rr
		opts = &opaque.ServerOptions{ClientOPRFKey: k}
	} else {
		if rec.RegistrationRecord, err = e.ghostRecord(id); err != nil {
			return nil, nil, fmt.Errorf("fake record: %w", err)
		}
	}
	m, out, err := e.server.GenerateKE2(ke1, rec, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: KE1: %v", vault.ErrBadMessage, err)
	}
	return m.Serialize(), out.ClientMAC, nil
}

// ghostRecord derives a fake registration record for an unknown account.
func (e *engine) ghostRecord(id [32]byte) (*message.RegistrationRecord, error) {
	g := e.conf.AKE.Group()
	derive := func(label string) []byte {
		m := hmac.New(sha512.New, e.ghostKey)
		m.Write([]byte(label))
		m.Write(id[:])
		return m.Sum(nil)
	}
	// The client public key only enters the key exchange, which nobody
	// without the client's private key can check, so one per server will
	// do. Decoding it, as for a stored record, keeps both paths alike in time.
	pk := g.NewElement()
	if err := pk.Decode(e.ghostPK); err != nil {
		return nil, err
	}
	return &message.RegistrationRecord{
		ClientPublicKey: pk,
		MaskingKey:      derive("masking-key"),
		// The envelope only ever travels masked; its content is never seen.
		Envelope: make([]byte, 96),
	}, nil
}

var errAuth = errors.New("KE3 does not authenticate")

// finish checks KE3 against the MAC expected by the session.
func (e *engine) finish(ke3Bytes, clientMAC []byte) error {
	ke3, err := e.server.Deserialize.KE3(ke3Bytes)
	if err != nil {
		return errAuth
	}
	if err := e.server.LoginFinish(ke3, clientMAC); err != nil {
		return errAuth
	}
	return nil
}
