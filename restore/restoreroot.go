package restore

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
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

// dirHandle is one directory of the target, opened (through the target's
// Root) once for all the files restored into it. Each file's create,
// rename and times then name it by its base name alone: through the
// target's Root each of the three walked the path again, opening and
// closing every directory on the way (about 13,000 openat calls, and as
// many close, in a restore of the bench's --full corpus).
type dirHandle struct {
	root *os.Root
	own  bool // a Root of its own, closed after the last file; not the target's
	refs atomic.Int32
}

// openDirHandle opens rel, a directory of the target already made, with
// one reference for the caller.
func openDirHandle(root *os.Root, rel string) (*dirHandle, error) {
	dh := &dirHandle{root: root}
	if rel != "." {
		sub, err := root.OpenRoot(rel)
		if err != nil {
			return nil, err
		}
		dh.root, dh.own = sub, true
	}
	dh.refs.Store(1)
	return dh, nil
}

// acquire takes a reference for one file's restore.
func (dh *dirHandle) acquire() { dh.refs.Add(1) }

// release drops a reference (a nil handle is none); the last closes the
// directory.
func (dh *dirHandle) release() {
	if dh != nil && dh.refs.Add(-1) == 0 && dh.own {
		dh.root.Close()
	}
}
