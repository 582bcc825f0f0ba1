package restore

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
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
	for {
		rel := filepath.Join(dirRel, tempName())
		f, err := root.OpenFile(rel, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, rel, err
	}
}

// tempName returns a new random temporary name.
func tempName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return ".chatsafe-restore-" + hex.EncodeToString(b[:])
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

	// The directory itself, opened at its first unnamed file, for the
	// calls that take its descriptor (unnamed_linux.go).
	openDir   sync.Once
	dir       *os.File
	dirErr    error
	noUnnamed atomic.Bool // its file system refused an unnamed file
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
	if dh == nil || dh.refs.Add(-1) != 0 {
		return
	}
	if dh.dir != nil {
		dh.dir.Close()
	}
	if dh.own {
		dh.root.Close()
	}
}

// dirFile opens the directory once, through its Root, for every file
// restored into it.
func (dh *dirHandle) dirFile() (*os.File, error) {
	dh.openDir.Do(func() { dh.dir, dh.dirErr = dh.root.Open(".") })
	return dh.dir, dh.dirErr
}

// newFile is a file being restored: unnamed in its directory until it is
// whole where the file system allows (unnamed_linux.go), else under a
// temporary name beside its destination. Either way no reader sees it
// half-written; an unnamed one also leaves nothing behind if the process
// dies, where a temporary name stays until removed.
type newFile struct {
	*os.File
	dir *dirHandle
	tmp string // the temporary name; "" while unnamed
}

// create starts a new file in dh.
func (dh *dirHandle) create() (*newFile, error) {
	if f := dh.createUnnamed(); f != nil {
		return &newFile{File: f, dir: dh}, nil
	}
	f, tmp, err := createRestoreTemp(dh.root, ".")
	if err != nil {
		return nil, err
	}
	return &newFile{File: f, dir: dh, tmp: tmp}, nil
}

// errNoLinks: this system links no unnamed file (unnamed_linux.go).
var errNoLinks = errors.New("unnamed files cannot be linked here")

// place gives the whole file its name, base, in its directory, replacing
// a file or symlink there: a rename replaces a symlink, never writes
// through it. It closes the file.
func (nf *newFile) place(base string) error {
	if nf.tmp == "" {
		err := nf.dir.linkUnnamed(nf.File, base)
		switch {
		case err == nil:
			if err := nf.File.Close(); err != nil {
				nf.dir.root.Remove(base)
				return err
			}
			return nil
		case errors.Is(err, errNoLinks):
			if err := nf.copyToTemp(); err != nil {
				return err
			}
		case errors.Is(err, fs.ErrExist):
			// Something has the name (a restore with --force): the file
			// takes a temporary one, and the rename below replaces it.
			nf.tmp, err = nf.linkTemp()
			if errors.Is(err, errNoLinks) {
				err = nf.copyToTemp()
			}
			if err != nil {
				return err
			}
		default:
			return err
		}
	}
	if err := nf.File.Close(); err != nil {
		return err
	}
	if err := nf.dir.root.Rename(nf.tmp, base); err != nil {
		return err
	}
	nf.tmp = ""
	return nil
}

// copyToTemp copies the unnamed file, bytes and mode, to a new temporary
// name, where none can be linked, and goes on with that file.
func (nf *newFile) copyToTemp() error {
	src := nf.File
	defer src.Close()
	f, tmp, err := createRestoreTemp(nf.dir.root, ".")
	if err != nil {
		return err
	}
	nf.File, nf.tmp = f, tmp
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if _, err := io.Copy(f, src); err != nil {
		return err
	}
	return f.Chmod(fi.Mode().Perm())
}

// linkTemp links the unnamed file under a new temporary name.
func (nf *newFile) linkTemp() (string, error) {
	for {
		tmp := tempName()
		err := nf.dir.linkUnnamed(nf.File, tmp)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		return tmp, nil
	}
}

// abandon closes a file that is not to be placed and removes its
// temporary name, if it has one. A closed file is closed again harmlessly.
func (nf *newFile) abandon() {
	nf.File.Close()
	if nf.tmp != "" {
		nf.dir.root.Remove(nf.tmp)
	}
}
