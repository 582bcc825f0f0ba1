package statusui

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/chatsafe/chatsafe/crypt"
)

// TokenFile is the file in the state directory that holds the page's
// token. Whoever can read it can use the page; it is 0600 like the key
// cache beside it.
const TokenFile = "ui-token"

// ErrNoToken means the daemon has not made a token yet (ui_listen unset,
// or the daemon never started with it).
var ErrNoToken = errors.New("no status page token yet")

// LoadOrCreateToken returns the token kept in stateDir, making a random
// one on first use. It survives restarts so a bookmarked URL keeps working.
func LoadOrCreateToken(stateDir string) (string, error) {
	tok, err := ReadToken(stateDir)
	if err == nil {
		return tok, nil
	}
	if !errors.Is(err, ErrNoToken) {
		return "", err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making the status page token: %w", err)
	}
	tok = hex.EncodeToString(b)
	// The key cache's writer: synced, renamed, the directory synced, so a
	// crash never leaves an empty token file.
	if err := crypt.WriteSecretFile(filepath.Join(stateDir, TokenFile), []byte(tok+"\n")); err != nil {
		return "", fmt.Errorf("saving the status page token in %s: %w", stateDir, err)
	}
	return tok, nil
}

// ReadToken reads the token kept in stateDir.
func ReadToken(stateDir string) (string, error) {
	p := filepath.Join(stateDir, TokenFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w in %s: set ui_listen in the config and restart the daemon", ErrNoToken, stateDir)
	}
	if err != nil {
		return "", fmt.Errorf("reading the status page token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 32 {
		return "", fmt.Errorf("%s holds no usable token; delete it and restart the daemon to make a new one", p)
	}
	return tok, nil
}
