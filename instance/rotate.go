package instance

import (
	"context"
	"errors"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// SwapKey replaces the cached backup key after a key rotation (the
// rotating device, or a device joining again with the new recovery key
// after the old one was rotated away).
func SwapKey(cfg *configs.Config, key crypt.Key) error {
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("creating the state directory: %w", err)
	}
	if _, err := KeyCache(cfg).Write(key); err != nil {
		return fmt.Errorf("caching the new backup key: %w", err)
	}
	return nil
}

// RotatedAway reports whether the config's state directory caches a key other than key that
// the repository on rem says was rotated away (store.ErrKeyRotated): the
// device joined before a rotation and now joins again with the new key.
func RotatedAway(ctx context.Context, cfg *configs.Config, key crypt.Key, rem remotes.Remote, log *zap.Logger) bool {
	have, ok, err := CachedKey(cfg)
	if err != nil || !ok || have == key {
		return false
	}
	st, err := store.Open(ctx, rem, have, store.Options{ReadOnly: true, Log: log})
	if err == nil {
		st.Close()
	}
	return errors.Is(err, store.ErrKeyRotated)
}
