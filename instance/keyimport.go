package instance

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// What ImportKey found in the key cache.
const (
	ImportedNew     = ""        // no key (lost)
	ImportedCorrupt = "corrupt" // something that is not a key
	ImportedRotated = "rotated" // a key the repository says was rotated away
	ImportedSame    = "same"    // this key already: nothing written
)

// ImportResult is what ImportKey did.
type ImportResult struct {
	// Was is what the key cache held before (Imported*).
	Was string
	// Where the key cache is: crypt.InKeyring or crypt.InFile.
	Where string
	// Head is the repository's newest delta, as the key opened it.
	Head store.HeadRef
}

// ImportKey puts key back into the installation's key cache (`chatsafe
// key import`) after it was lost or damaged, keeping the config and the
// state directory: it is not a join, and which device writes the
// repository does not change. key must open the repository on rems[0]
// first (a wrong key, or one rotated away, writes nothing). The cache
// may be missing, corrupt, or hold a key the repository says was rotated
// away; another key is refused (ErrOtherKey): it may be another
// installation's.
func ImportKey(ctx context.Context, cfg *configs.Config, key crypt.Key, rems []remotes.Remote, log *zap.Logger) (ImportResult, error) {
	st, err := store.Open(ctx, rems[0], key, store.Options{ReadOnly: true, Log: log})
	if err != nil {
		return ImportResult{}, err
	}
	res := ImportResult{Head: st.HeadRef()}
	st.Close()
	have, where, err := KeyCache(cfg).Read()
	switch {
	case err == nil && have == key:
		res.Was, res.Where = ImportedSame, where
		return res, nil
	case err == nil && RotatedAway(ctx, cfg, key, rems[0], log):
		res.Was = ImportedRotated
	case err == nil:
		return res, fmt.Errorf("%w: the key cache %s holds another backup key, one that does not open this repository (another installation's?); move it away if it is not needed, then run key import again",
			ErrOtherKey, KeyCachePath(cfg.StateDir))
	case errors.Is(err, crypt.ErrKeyCacheCorrupt):
		res.Was = ImportedCorrupt
	case errors.Is(err, fs.ErrNotExist):
		res.Was = ImportedNew
	default:
		// Unreadable for another reason (its mode, a locked keyring):
		// that needs fixing, not overwriting.
		return res, fmt.Errorf("reading the key cache: %w", err)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return res, fmt.Errorf("creating the state directory: %w", err)
	}
	if res.Where, err = KeyCache(cfg).Write(key); err != nil {
		return res, fmt.Errorf("caching the backup key: %w", err)
	}
	return res, nil
}
