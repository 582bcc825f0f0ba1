package server

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
)

// PinsFile, inside the raft directory, binds every node id this node has
// talked to to the public key of the certificate it presented first.
const PinsFile = "pins.json"

// peerPins binds each node id to one public key (SHA-256 of its
// SubjectPublicKeyInfo), so that a certificate the cluster CA file trusts
// cannot speak for another node, and a removed node's key is refused even
// while its certificate still chains to the CA.
//
// A node's first connection pins its key (trust on first use: membership
// is what a quorum committed, and only keys the CA file trusts get this
// far). Pins are never dropped: the pin of a removed node is what refuses
// it afterwards.
type peerPins struct {
	path string
	self string // this node's id
	// members returns the current voters (id → raft address); empty while
	// the node has no configuration yet (a node waiting to be added).
	members func() map[string]string

	mu   sync.Mutex
	pins map[string]string
}

func loadPins(path, self string, members func() map[string]string) (*peerPins, error) {
	p := &peerPins{path: path, self: self, members: members, pins: map[string]string{}}
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err == nil {
		err = json.Unmarshal(raw, &p.pins)
	}
	if err != nil {
		return nil, fmt.Errorf("vault cluster: reading the peer pins %s: %w (it is rebuilt on first contact if you delete it, but then a removed node is no longer refused by its key)", path, err)
	}
	return p, nil
}

func spkiHash(c *x509.Certificate) string {
	h := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(h[:])
}

// owner returns the node id key is pinned to.
func (p *peerPins) owner(key string) (string, bool) {
	for id, k := range p.pins {
		if k == key {
			return id, true
		}
	}
	return "", false
}

// check decides whether the peer presenting key may speak as id (id ""
// is an administrator, `vault members`, with a node's certificate). Keys
// reaching it already chain to the cluster CA file.
func (p *peerPins) check(id, key string) error {
	members := p.members()
	p.mu.Lock()
	defer p.mu.Unlock()
	if owner, ok := p.owner(key); ok {
		if _, member := members[owner]; !member && len(members) > 0 {
			return fmt.Errorf("vault peer's key belongs to node %s, which is not a member of the cluster (removed?)", owner)
		}
		if id != "" && owner != id {
			return fmt.Errorf("vault peer claims to be node %s but its key is pinned to node %s", id, owner)
		}
		return nil
	}
	if id == "" {
		// An administrator with a key no node has shown this one yet: the
		// CA file vouches for it (a removed node's key is pinned, above).
		return nil
	}
	if pinned, ok := p.pins[id]; ok && pinned != key {
		return fmt.Errorf("vault peer claims to be node %s, whose pinned key is another one (a node's key changes only by removing and adding it again under a new id)", id)
	}
	if _, member := members[id]; !member && len(members) > 0 {
		return fmt.Errorf("vault peer claims to be node %s, which is not a member of the cluster", id)
	}
	p.pins[id] = key
	return p.saveLocked()
}

func (p *peerPins) saveLocked() error {
	raw, err := json.MarshalIndent(p.pins, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(p.path, raw, 0o600); err != nil {
		return fmt.Errorf("vault cluster: saving the peer pins: %w", err)
	}
	return nil
}

// idAt returns the id of the member at raft address addr.
func (p *peerPins) idAt(addr string) string {
	for id, a := range p.members() {
		if a == addr {
			return id
		}
	}
	return ""
}
