package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// daemonKeyFile is what became of the recovery-key file that `chatsafe
// daemon` writes beside the config when it makes an installation on the
// embedded defaults (daemon.RecoveryKeyFileName), once a rotation has
// committed.
type daemonKeyFile struct {
	path     string // "": there is none
	replaced bool   // it holds the new key now (or held it already)
	warning  string // it holds something else, left as it was
}

// replaceDaemonKeyFile puts newKey into the daemon's recovery-key file
// beside cfg's config when it holds a key the repository was rotated away
// from (the old key): atomically, mode 0600. Whether its key is an old
// one the repository's config says (a run resumed after the key cache
// took the new key no longer knows the old one). A file holding newKey
// already (a run killed after replacing it) is left as it is; so is one
// holding anything else, with a warning. Only a failed write is an error.
func replaceDaemonKeyFile(ctx context.Context, cfg *configs.Config, newKey crypt.Key, retry remotes.RetryOptions) (daemonKeyFile, error) {
	f := daemonKeyFile{path: filepath.Join(filepath.Dir(cfg.Path), daemon.RecoveryKeyFileName)}
	b, err := crypt.ReadSecretFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return daemonKeyFile{}, nil
	}
	if err != nil {
		f.warning = fmt.Sprintf("%s could not be read (%v), so it was left as it is: if it holds the old recovery key, replace it with the new one", f.path, err)
		return f, nil
	}
	k, err := crypt.ParseRecoveryKey(string(b))
	clear(b)
	switch {
	case err != nil:
		f.warning = fmt.Sprintf("%s holds no recovery key, so it was left as it is", f.path)
		return f, nil
	case k == newKey:
		f.replaced = true
		return f, nil
	}
	old, err := rotatedAway(ctx, cfg, k, retry)
	if err != nil {
		f.warning = fmt.Sprintf("%s was left as it is: whether it holds the old recovery key could not be checked (%v); if it does, replace it with the new one", f.path, err)
		return f, nil
	}
	if !old {
		f.warning = fmt.Sprintf("%s holds a recovery key that is neither the old nor the new key of this repository, so it was left as it is", f.path)
		return f, nil
	}
	if err := crypt.WriteSecretFile(f.path, []byte(newKey.RecoveryKey()+"\n")); err != nil {
		return f, fmt.Errorf("the key was rotated, but %s still holds the old recovery key: %w; run `chatsafe key rotate` again to replace it", f.path, err)
	}
	f.replaced = true
	return f, nil
}

// rotatedAway reports whether key is one the repository on cfg's first
// remote was rotated away from; it reads the repository's config alone.
func rotatedAway(ctx context.Context, cfg *configs.Config, key crypt.Key, retry remotes.RetryOptions) (bool, error) {
	rems, err := instance.OpenRemotes(ctx, cfg, retry)
	if err != nil {
		return false, err
	}
	defer instance.CloseRemotes(rems)
	log := retry.Log
	if log == nil {
		log = zap.NewNop()
	}
	s, err := store.Open(ctx, rems[0], key, store.Options{ReadOnly: true, Log: log})
	switch {
	case err == nil:
		s.Close() // the repository's key now: not an old one
		return false, nil
	case errors.Is(err, store.ErrKeyRotated):
		return true, nil
	case errors.Is(err, store.ErrWrongKey):
		return false, nil
	}
	return false, err
}
