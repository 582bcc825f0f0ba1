package server

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/chacha20poly1305"
)

// MasterKey seals the vault's secrets at rest (OPRF keys, the server's
// OPAQUE key, account records). The default is a key file; the replicated
// vault puts it in a PKCS#11 token. Open must fail for sealed data that was
// altered or sealed with different associated data.
type MasterKey interface {
	Seal(plaintext, ad []byte) ([]byte, error)
	Open(sealed, ad []byte) ([]byte, error)
}

// MasterKeyFileName is the master key file inside the data directory.
const MasterKeyFileName = "master.key"

// FileMasterKey is a MasterKey held in a 0600 file of 64 hex digits,
// sealing with XChaCha20-Poly1305 (random 24-byte nonce prepended).
type FileMasterKey struct {
	aead interface {
		Seal(dst, nonce, plaintext, additionalData []byte) []byte
		Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
		NonceSize() int
		Overhead() int
	}
}

// OpenFileMasterKey loads the master key from path, creating it with a fresh
// random key if it does not exist. It refuses a key file that others can read.
func OpenFileMasterKey(path string) (*FileMasterKey, error) { return openFileMasterKey(path, nil) }

// errNoClusterMasterKey is a cluster node started without a master key
// before the cluster exists: made on its own it would differ from the
// other nodes', and the node would never set up (each node's key must
// open the secrets the cluster created with the first one's).
var errNoClusterMasterKey = errors.New("a cluster node needs the cluster's master key, the same on every node: make it once, on one node, with `chatsafe vault key new --data DIR`, and copy DIR/master.key (mode 0600) into every node's data directory before that node's first start (docs/vault.md, \"Replication\")")

// errNoJoinMasterKey is a node of a running cluster started without a
// master key: one joining it (no bootstrap peers), or one that has run in
// it (its raft directory holds state). The cluster's key exists already;
// a new one would never open the cluster's secrets.
var errNoJoinMasterKey = errors.New("a node of a running vault cluster needs the cluster's master key: copy master.key (mode 0600) from the data directory of a node of the cluster into this node's data directory, then start it again; a key made for this node alone would not open the cluster's secrets (docs/vault.md, \"Membership\")")

// clusterKeyMissing is what a cluster node started without master.key
// is told: errNoJoinMasterKey once the cluster exists as far as the node
// can tell, errNoClusterMasterKey before.
func clusterKeyMissing(cfg ServerConfig) error {
	if len(cfg.Cluster.Peers) == 0 {
		return errNoJoinMasterKey
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, RaftDir, "raft.db")); err == nil {
		return errNoJoinMasterKey
	}
	return errNoClusterMasterKey
}

// openFileMasterKey is OpenFileMasterKey; with missing set, a missing
// file is that error rather than made.
func openFileMasterKey(path string, missing error) (*FileMasterKey, error) {
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && missing != nil:
		return nil, fmt.Errorf("vault master key %s does not exist: %w", path, missing)
	case errors.Is(err, fs.ErrNotExist):
		raw, err = createMasterKeyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("vault master key %s: %w", path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("vault master key %s: %w", path, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("vault master key %s is readable by others (mode %v); run chmod 600 on it", path, st.Mode().Perm())
	}
	key := make([]byte, chacha20poly1305.KeySize)
	if n, err := hex.Decode(key, bytes.TrimSpace(raw)); err != nil || n != len(key) || len(bytes.TrimSpace(raw)) != 2*len(key) {
		return nil, fmt.Errorf("vault master key %s is not 64 hex digits; restore it from your backup of the data directory", path)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("vault master key: %w", err)
	}
	clear(key)
	return &FileMasterKey{aead: aead}, nil
}

// NewMasterKeyFile makes DIR/master.key with a fresh random key unless it
// exists (then it only checks it), before a node's first start: the first
// node's key is copied to the others. created says whether it made it.
func NewMasterKeyFile(dir string) (path string, created bool, err error) {
	path = filepath.Join(dir, MasterKeyFileName)
	_, err = os.Stat(path)
	created = errors.Is(err, fs.ErrNotExist)
	if _, err := OpenFileMasterKey(path); err != nil {
		return path, false, err
	}
	return path, created, nil
}

func createMasterKeyFile(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	key := make([]byte, chacha20poly1305.KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	enc := []byte(hex.EncodeToString(key) + "\n")
	clear(key)
	// Write to a temporary file and link it into place so a crash never
	// leaves a half-written key, and two starting servers cannot both win.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".master.key.*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, err
	}
	if _, err := tmp.Write(enc); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return os.ReadFile(path)
		}
		return nil, err
	}
	return enc, nil
}

// Seal encrypts and authenticates plaintext bound to ad.
func (k *FileMasterKey) Seal(plaintext, ad []byte) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("sealing with the vault master key: %w", err)
	}
	return k.aead.Seal(nonce, nonce, plaintext, ad), nil
}

// errSealed means sealed data did not open: wrong master key or tampering.
var errSealed = errors.New("sealed vault data does not open with the master key (wrong master key file, or the data was altered)")

// Open decrypts sealed data produced by Seal with the same ad.
func (k *FileMasterKey) Open(sealed, ad []byte) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(sealed) < ns+k.aead.Overhead() {
		return nil, errSealed
	}
	pt, err := k.aead.Open(nil, sealed[:ns], sealed[ns:], ad)
	if err != nil {
		return nil, errSealed
	}
	return pt, nil
}
