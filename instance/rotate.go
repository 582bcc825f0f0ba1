package instance

import (
	"fmt"
	"os"

	"github.com/chatsafe/chatsafe/crypt"
)

// SwapKey replaces the cached backup key after a key rotation (the
// rotating device, or a device joining again with the new recovery key
// after the old one was rotated away).
func SwapKey(stateDir string, key crypt.Key) error {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("creating the state directory: %w", err)
	}
	if err := crypt.WriteKeyCache(KeyCachePath(stateDir), key); err != nil {
		return fmt.Errorf("caching the new backup key: %w", err)
	}
	return nil
}
