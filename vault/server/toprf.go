package server

import (
	"context"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bytemare/ecc"
	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"

	"github.com/chatsafe/chatsafe/vault"
)

// The server side of the threshold OPRF (docs/vault.md, "Threshold OPRF").
// Each node has a share key of its own (DIR/share.key, an X25519 key sealed
// by the master key): clients seal each node's share of an account's OPRF
// key to that node's public key, so a share travels through the raft log
// and sits in every replica's database, but only its node can open it.

// ShareKeyFileName is the node's own share key inside the data directory.
// Unlike master.key it must never be copied to another node.
const ShareKeyFileName = "share.key"

const sharePKMetaPrefix = "share_pk/"

// singleNodeName names the share of a vault without a cluster.
const singleNodeName = "single"

func shareKeyAD(node string) []byte { return []byte("chatsafe-vault/share-key/v1/" + node) }

// loadOrCreateShareKey opens DIR/share.key, making it on first start;
// without create a missing one is nil, nil.
func loadOrCreateShareKey(dir, node string, mk MasterKey, create bool) (hpke.PrivateKey, error) {
	path := filepath.Join(dir, ShareKeyFileName)
	sealed, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !create {
		return nil, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		sealed, err = createShareKeyFile(path, node, mk)
	}
	if err != nil {
		return nil, fmt.Errorf("vault: node share key %s: %w", path, err)
	}
	raw, err := mk.Open(sealed, shareKeyAD(node))
	if err != nil {
		return nil, fmt.Errorf("vault: node share key %s does not open with this node's master key (or belongs to another node id): %w", path, err)
	}
	defer clear(raw)
	k, err := vault.ShareKEM().NewPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("vault: node share key %s is corrupt: %w", path, err)
	}
	return k, nil
}

func createShareKeyFile(path, node string, mk MasterKey) ([]byte, error) {
	k, err := vault.ShareKEM().GenerateKey()
	if err != nil {
		return nil, err
	}
	raw, err := k.Bytes()
	if err != nil {
		return nil, err
	}
	sealed, err := mk.Seal(raw, shareKeyAD(node))
	clear(raw)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".share.key.*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(sealed)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	// Link, not rename: two starting servers cannot both win.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return os.ReadFile(path)
		}
		return nil, err
	}
	return sealed, syncDir(filepath.Dir(path))
}

// shareNodeName is this node's name in share lists.
func (s *Server) shareNodeName() string {
	if s.node == nil {
		return singleNodeName
	}
	return s.node.id
}

// publishShareKey puts this node's share public key in the replicated
// state (first proposal wins) and checks that the state holds this key.
func (s *Server) publishShareKey(ctx context.Context) error {
	name := sharePKMetaPrefix + s.shareNodeName()
	pk := s.shareKey.PublicKey().Bytes()
	stored, err := s.store.meta(name)
	if err != nil {
		return err
	}
	if stored == nil {
		res, err := s.store.Apply(ctx, Command{Op: OpInitMeta, Name: name, Sealed: pk})
		if err != nil {
			return fmt.Errorf("publishing this node's share key: %w", err)
		}
		stored = res.Sealed
	}
	if string(stored) != string(pk) {
		return fmt.Errorf("this node's share key (%s) is not the one the vault knows for node %q: it was replaced or copied from another node; remove the node and add it again under a new id", ShareKeyFileName, s.shareNodeName())
	}
	shares, _, err := vault.DealShares(vault.NewTOPRFKey(), "", []vault.ShareNode{{ID: s.shareNodeName(), PK: pk}}, 1)
	if err != nil {
		return err
	}
	s.dummyShare = shares[0]
	return nil
}

// errFewShareNodes: fewer members have published a share key (in this
// node's replica) than the threshold needs; a transient state of a young
// cluster or a lagging replica.
var errFewShareNodes = errors.New("not enough vault nodes have published their share keys yet; try again or another node")

// shareNodes lists the nodes that get shares of a new account's key (the
// current members that have published a share key, sorted by id) and the
// threshold: a majority of all members, so that a partial list never
// lowers it.
func (s *Server) shareNodes() ([]vault.ShareNode, int, error) {
	pks, err := s.store.metaPrefix(sharePKMetaPrefix)
	if err != nil {
		return nil, 0, err
	}
	var members map[string]bool
	if s.node != nil {
		f := s.node.raft.GetConfiguration()
		if err := f.Error(); err != nil {
			return nil, 0, fmt.Errorf("reading the cluster membership: %w", err)
		}
		members = map[string]bool{}
		for _, srv := range f.Configuration().Servers {
			if srv.Suffrage == raft.Voter {
				members[string(srv.ID)] = true
			}
		}
	}
	var out []vault.ShareNode
	for name, pk := range pks {
		id := strings.TrimPrefix(name, sharePKMetaPrefix)
		if members == nil && id != singleNodeName || members != nil && !members[id] {
			continue
		}
		out = append(out, vault.ShareNode{ID: id, PK: pk})
	}
	slices.SortFunc(out, func(a, b vault.ShareNode) int { return strings.Compare(a.ID, b.ID) })
	if len(out) > vault.MaxShares {
		out = out[:vault.MaxShares]
	}
	t := 1
	if members != nil {
		t = vault.Threshold(len(members))
	}
	if len(out) < t && members == nil {
		return nil, 0, errFewShareNodes
	}
	if len(out) < t {
		var missing []string
		for id := range members {
			if _, ok := pks[sharePKMetaPrefix+id]; !ok {
				missing = append(missing, id)
			}
		}
		slices.Sort(missing)
		// A node whose master key does not open the cluster's secrets
		// never gets as far as publishing: the usual cause on a new
		// cluster, and one only that node's log would name.
		return nil, 0, fmt.Errorf("%w (published by %d of the %d members, not by %s: a node whose master key differs from the cluster's never publishes one, so check that every node has the same master.key, and those nodes' logs)", errFewShareNodes, len(out), len(members), nodeList(missing))
	}
	return out, t, nil
}

// metaPrefix returns copies of the meta values whose names start with p.
func (s *Store) metaPrefix(p string) (map[string][]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string][]byte{}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketMeta).Cursor()
		for k, v := c.Seek([]byte(p)); k != nil && strings.HasPrefix(string(k), p); k, v = c.Next() {
			out[string(k)] = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}

func (n *raftNode) metaPrefix(p string) (map[string][]byte, error) { return n.st.metaPrefix(p) }

// blindHash is what an attempt commits of the blinded element.
func blindHash(blinded []byte) []byte {
	h := sha256.Sum256(blinded)
	return h[:]
}

// ke1Hash is what a login/start commits of its KE1: apart from the
// blinded elements' hashes (which nodes evaluate on), so that neither can
// stand for the other.
func ke1Hash(ke1 []byte) []byte {
	h := sha256.New()
	h.Write([]byte("chatsafe-vault/login-start-ke1/v1"))
	h.Write(ke1)
	return h.Sum(nil)
}

// attemptRow reads the row an OpAttempt with this handle hash counts on:
// the account's, or its shadow row for a login without the right handle.
func attemptRow(sm stateMachine, id [32]byte, handleHash []byte) (accountState, bool, error) {
	st, found, err := sm.view(id)
	if err != nil || !found || st.Ghost || len(st.HandleHash) == 0 || equalHash(st.HandleHash, handleHash) {
		return st, found, err
	}
	return sm.view([32]byte(shadowKey(id)))
}

var errNoShare = errors.New("this vault node holds no share of the account's key")

// shareEval is a node's evaluation for one counted attempt.
type shareEval struct {
	t, x int
	eval []byte
}

// evaluate evaluates this node's share on blinded: from the account's
// secrets, or for a ghost (unknown name, or no handle) from a fake
// polynomial derived from the ghost key, so that both answer alike and
// stably. secrets without shares (an account registered before the
// threshold OPRF) give t = 0 and no evaluation.
func (s *Server) evaluate(eng *engine, account string, id [32]byte, secrets *accountSecrets, blinded []byte) (shareEval, error) {
	if secrets == nil {
		nodes, t, err := s.shareNodes()
		if err != nil {
			return shareEval{}, err
		}
		t = max(t, vault.Threshold(len(nodes))) // as DealShares does
		x := slices.IndexFunc(nodes, func(n vault.ShareNode) bool { return n.ID == s.shareNodeName() }) + 1
		if x == 0 {
			return shareEval{t: t}, errNoShare // like a node added after a registration
		}
		if k, err := vault.OpenShare(s.shareKey, "", s.dummyShare, 1); err == nil {
			k.Zero() // the same HPKE open as a real account's evaluation
		}
		e, err := vault.EvaluateShare(eng.ghostShare(id, x, t), blinded)
		return shareEval{t: t, x: x, eval: e}, err
	}
	if secrets.Threshold == 0 {
		return shareEval{}, nil
	}
	i := slices.IndexFunc(secrets.Shares, func(sh vault.SealedShare) bool { return sh.Node == s.shareNodeName() })
	if i < 0 {
		return shareEval{t: secrets.Threshold}, errNoShare // a node added after the registration
	}
	share, err := vault.OpenShare(s.shareKey, account, secrets.Shares[i], secrets.Threshold)
	if err != nil {
		return shareEval{}, err
	}
	e, err := vault.EvaluateShare(share, blinded)
	share.Zero()
	return shareEval{t: secrets.Threshold, x: secrets.Shares[i].X, eval: e}, err
}

// ghostShare is share x of a fake key of degree t-1 for an unknown
// account: derived from the ghost key, so every node computes the same
// polynomial and any t of them interpolate the same fake key, as for a
// real account.
func (e *engine) ghostShare(id [32]byte, x, t int) *ecc.Scalar {
	coef := make([]*ecc.Scalar, t)
	for j := range coef {
		in := append(append(append([]byte(nil), e.ghostKey...), id[:]...), binary.BigEndian.AppendUint32(nil, uint32(j))...)
		coef[j] = vault.TOPRFGroup.HashToScalar(in, []byte("chatsafe-vault-toprf-ghost-v1"))
	}
	return vault.Polynomial(coef, x)
}
