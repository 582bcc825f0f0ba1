//go:build !cgo

// Package hsm keeps the vault's master key inside a PKCS#11 token. This
// build has no cgo, so no PKCS#11 module can be loaded.
package hsm

import "errors"

// DefaultKeyLabel is the label of the master key object in the token.
const DefaultKeyLabel = "chatsafe-vault-master"

// Config names the token and the key in it.
type Config struct {
	Module, TokenLabel, PIN, KeyLabel string
}

// ErrSealed means sealed data did not open.
var ErrSealed = errors.New("sealed vault data does not open with the HSM master key")

// MasterKey is unavailable without cgo.
type MasterKey struct{}

// ReadPINFile is unavailable without cgo.
func ReadPINFile(string) (string, error) { return "", errNoCgo }

// Open always fails: PKCS#11 needs cgo.
func Open(Config) (*MasterKey, error) { return nil, errNoCgo }

func (m *MasterKey) Seal(_, _ []byte) ([]byte, error) { return nil, errNoCgo }
func (m *MasterKey) Open(_, _ []byte) ([]byte, error) { return nil, errNoCgo }
func (m *MasterKey) Close() error                     { return nil }

var errNoCgo = errors.New("HSM: this chatsafe was built without cgo, which PKCS#11 needs; rebuild with CGO_ENABLED=1")
