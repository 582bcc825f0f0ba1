//go:build cgo

// Package hsm keeps the vault's master key inside a PKCS#11 token (an HSM,
// or SoftHSM2 in tests) as a non-extractable AES-256 key. The key seals and
// opens the vault's secrets with AES-256-GCM computed by the token; the key
// itself never leaves it. MasterKey implements vault.MasterKey.
package hsm

import (
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"
)

// DefaultKeyLabel is the label of the master key object in the token.
const DefaultKeyLabel = "chatsafe-vault-master"

// nonceSize is the GCM IV length: 96 bits, random per seal.
const nonceSize = 12

// Config names the token and the key in it.
type Config struct {
	Module     string // PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so
	TokenLabel string
	PIN        string // user PIN
	KeyLabel   string // default DefaultKeyLabel
}

// ErrSealed means sealed data did not open: altered, or sealed by another key.
var ErrSealed = errors.New("sealed vault data does not open with the HSM master key (another token or key, or the data was altered)")

// MasterKey is an AES-256 key inside a PKCS#11 token. It is safe for
// concurrent use (crypto11 keeps a pool of token sessions).
type MasterKey struct {
	ctx  *crypto11.Context
	key  *crypto11.SecretKey
	aead cipher.AEAD
}

// ReadPINFile reads a PIN from the first line of a file that others cannot
// read.
func ReadPINFile(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("reading the PKCS#11 PIN file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("the PKCS#11 PIN file %s is readable by others (mode %v); run chmod 600 on it", path, st.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the PKCS#11 PIN file: %w", err)
	}
	pin, _, _ := strings.Cut(string(raw), "\n")
	pin = strings.TrimRight(pin, "\r")
	if pin == "" {
		return "", fmt.Errorf("the PKCS#11 PIN file %s is empty", path)
	}
	return pin, nil
}

// Open logs in to the token and finds the master key, generating it inside
// the token (non-extractable, sensitive) on first use.
func Open(cfg Config) (*MasterKey, error) {
	if cfg.Module == "" || cfg.TokenLabel == "" {
		return nil, errors.New("HSM: give the PKCS#11 module (--pkcs11-module) and the token label (--pkcs11-token)")
	}
	if cfg.KeyLabel == "" {
		cfg.KeyLabel = DefaultKeyLabel
	}
	ctx, err := crypto11.Configure(&crypto11.Config{
		Path:        cfg.Module,
		TokenLabel:  cfg.TokenLabel,
		Pin:         cfg.PIN,
		GCMIVLength: nonceSize,
	})
	if err != nil {
		// crypto11's messages name the module and token, never the PIN.
		return nil, fmt.Errorf("HSM: opening token %q with %s (check the module path, token label and PIN): %w", cfg.TokenLabel, cfg.Module, err)
	}
	k, err := findOrCreate(ctx, cfg.KeyLabel)
	if err != nil {
		ctx.Close()
		return nil, err
	}
	aead, err := k.NewGCM()
	if err != nil {
		ctx.Close()
		return nil, fmt.Errorf("HSM: the token cannot do AES-GCM: %w", err)
	}
	return &MasterKey{ctx: ctx, key: k, aead: aead}, nil
}

func findOrCreate(ctx *crypto11.Context, label string) (*crypto11.SecretKey, error) {
	found, err := ctx.FindKeys(nil, []byte(label))
	if err != nil {
		return nil, fmt.Errorf("HSM: looking for key %q: %w", label, err)
	}
	switch len(found) {
	case 0:
	case 1:
		return found[0], nil
	default:
		return nil, fmt.Errorf("HSM: the token holds %d keys labelled %q; keep one", len(found), label)
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	attrs, err := crypto11.NewAttributeSetWithIDAndLabel(id, []byte(label))
	if err != nil {
		return nil, err
	}
	// Explicit, though crypto11 sets the same: the key lives in the token
	// for good and can be used, never read.
	attrs.AddIfNotPresent([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
	})
	k, err := ctx.GenerateSecretKeyWithAttributes(attrs, 256, crypto11.CipherAES)
	if err != nil {
		return nil, fmt.Errorf("HSM: generating the master key in the token: %w", err)
	}
	return k, nil
}

// Seal encrypts and authenticates plaintext bound to ad inside the token.
func (m *MasterKey) Seal(plaintext, ad []byte) (out []byte, err error) {
	nonce := make([]byte, nonceSize, nonceSize+len(plaintext)+m.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("sealing with the HSM master key: %w", err)
	}
	// crypto11's Seal panics when the token fails; make it an error.
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("sealing with the HSM master key: the token failed: %v", r)
		}
	}()
	return m.aead.Seal(nonce, nonce, plaintext, ad), nil
}

// Open decrypts data produced by Seal with the same ad.
func (m *MasterKey) Open(sealed, ad []byte) ([]byte, error) {
	if len(sealed) < nonceSize+m.aead.Overhead() {
		return nil, ErrSealed
	}
	pt, err := m.aead.Open(nil, sealed[:nonceSize], sealed[nonceSize:], ad)
	if err != nil {
		return nil, ErrSealed
	}
	return pt, nil
}

// Close logs out of the token.
func (m *MasterKey) Close() error { return m.ctx.Close() }

// attributes reports the key's CKA_EXTRACTABLE and CKA_SENSITIVE, for tests.
func (m *MasterKey) attributes() (extractable, sensitive bool, err error) {
	a, err := m.ctx.GetAttributes(m.key, []crypto11.AttributeType{pkcs11.CKA_EXTRACTABLE, pkcs11.CKA_SENSITIVE})
	if err != nil {
		return false, false, err
	}
	b := func(t crypto11.AttributeType) bool {
		v := a[t]
		return v != nil && len(v.Value) == 1 && v.Value[0] != 0
	}
	return b(pkcs11.CKA_EXTRACTABLE), b(pkcs11.CKA_SENSITIVE), nil
}
