package restore

import (
	"errors"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// On Linux a restored file is made unnamed in its directory (O_TMPFILE)
// and linked under its name once whole. Besides leaving nothing behind
// if the process dies, this takes the inode's allocation out of the
// directory's lock: a create holds the lock while the file system looks
// for a free inode, which on ext4 without a journal means skipping every
// inode freed in the last minutes (a restore after a deletion), and the
// other files being restored into that directory wait for each lookup;
// a link takes it only to add the name. A rename and a temporary name's
// lookups go too. Measured in docs/benchmarks.md, "Restore: files made
// unnamed".

// unnamedFiles is off in tests of the fallback (export_test.go).
var unnamedFiles = true

// procFD says whether /proc/self/fd is there: a link names the unnamed
// file by it (linkat with AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH).
var procFD = sync.OnceValue(func() bool {
	fi, err := os.Stat("/proc/self/fd")
	return err == nil && fi.IsDir()
})

// createUnnamed makes a new unnamed file in dh, or returns nil (and no
// error) where its file system cannot: the caller then uses a temporary
// name.
func (dh *dirHandle) createUnnamed() (*os.File, error) {
	if !unnamedFiles || dh.noUnnamed.Load() || !procFD() {
		return nil, nil
	}
	dir, err := dh.dirFile()
	if err != nil {
		return nil, err
	}
	fd, err := unix.Openat(int(dir.Fd()), ".", unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	switch {
	case err == nil:
		return os.NewFile(uintptr(fd), "unnamed file"), nil
	// EOPNOTSUPP: a file system without it (NFS, some FUSE); EISDIR and
	// EINVAL: kernels before 3.11, which read the flag as O_DIRECTORY.
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EISDIR), errors.Is(err, unix.EINVAL):
		dh.noUnnamed.Store(true)
		return nil, nil
	default:
		return nil, &os.PathError{Op: "create", Path: "(unnamed file)", Err: err}
	}
}

// linkUnnamed gives the unnamed file f the name base in dh. A name
// already there is an error matching fs.ErrExist: a link never replaces
// or follows anything.
func (dh *dirHandle) linkUnnamed(f *os.File, base string) error {
	dir, err := dh.dirFile()
	if err != nil {
		return err
	}
	from := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	if err := unix.Linkat(unix.AT_FDCWD, from, int(dir.Fd()), base, unix.AT_SYMLINK_FOLLOW); err != nil {
		return &os.LinkError{Op: "link", Old: "(unnamed file)", New: base, Err: err}
	}
	return nil
}
