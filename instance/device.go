package instance

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DevicePath is where a state directory keeps this device's id.
func DevicePath(stateDir string) string { return filepath.Join(stateDir, "device") }

// DeviceID returns the id of the device that owns stateDir: random, made
// once per state directory (file "device", 0600, hex), and written into
// every delta the device commits so that another device can tell it is no
// longer the writer. A read-only open of a state directory that has none
// gets the zero id and writes nothing.
func DeviceID(stateDir string, create bool) ([16]byte, error) {
	var id [16]byte
	if stateDir == "" {
		return id, nil
	}
	path := DevicePath(stateDir)
	b, err := os.ReadFile(path)
	if err == nil {
		if n, derr := hex.Decode(id[:], []byte(strings.TrimSpace(string(b)))); derr != nil || n != len(id) {
			return id, fmt.Errorf("reading this device's id: %s is damaged (remove it to make a new id; this device then counts as a new one)", path)
		}
		return id, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return id, fmt.Errorf("reading this device's id: %w", err)
	}
	if !create {
		return id, nil
	}
	if _, err := rand.Read(id[:]); err != nil {
		return id, err
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return id, fmt.Errorf("creating the state directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process made it first: use theirs.
		return DeviceID(stateDir, false)
	}
	if err != nil {
		return id, fmt.Errorf("saving this device's id: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(id[:]) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// No id was used yet: a partial file (a full disk) would read as
		// damaged at every later start; without it, the next one makes
		// the id again.
		os.Remove(path)
		return id, fmt.Errorf("saving this device's id: %w", err)
	}
	return id, nil
}
