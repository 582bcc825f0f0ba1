package restore

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// A restore writes only through an os.Root opened on its target, so no
// path it writes, whatever the target already holds, resolves outside it.
// Where the snapshot has a directory or a symlink and the target has a
// symlink (or a file), the entry is replaced, never followed: os.Root alone
// would still follow a symlink that points elsewhere inside the target.

// openRestoreRoot creates the target if needed and opens it as a Root.
func openRestoreRoot(target string) (*os.Root, error) {
	if err := os.MkdirAll(target, 0o700); err != nil {
		return nil, fmt.Errorf("creating restore target: %w", err)
	}
	root, err := os.OpenRoot(target)
	if err != nil {
		return nil, fmt.Errorf("opening restore target: %w", err)
	}
	return root, nil
}

// prepareDir makes rel a real directory: an existing directory is kept
// (with --force the restore merges into it), anything else is removed
// first.
func prepareDir(root *os.Root, rel string) error {
	fi, err := root.Lstat(rel)
	switch {
	case err == nil && fi.IsDir():
		return nil
	case err == nil:
		if err := root.Remove(rel); err != nil {
			return err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	return root.Mkdir(rel, 0o700)
}

// replaceWithSymlink makes rel a symlink to target, replacing a file or
// symlink already there.
func replaceWithSymlink(root *os.Root, rel, target string) error {
	if err := root.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return root.Symlink(target, rel)
}

// createRestoreTemp creates a new temporary file in the directory dirRel,
// beside the file it will become.
func createRestoreTemp(root *os.Root, dirRel string) (*os.File, string, error) {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		rel := filepath.Join(dirRel, ".chatsafe-restore-"+hex.EncodeToString(b[:]))
		f, err := root.OpenFile(rel, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, rel, err
	}
}
