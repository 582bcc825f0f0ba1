package restore

import (
	"errors"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

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

// refuseLink, in tests, makes the links it names fail as a system that
// allows none would (export_linux_test.go).
var refuseLink func(name string) bool

// linksRefused counts the links of unnamed files refused (a security
// module, no /proc, a file system with unnamed files but no links), for
// tests; the directory's later files then take temporary names
// (dirHandle.noUnnamed).
var linksRefused atomic.Int64

// emptyPathRefused is set once linkat(AT_EMPTY_PATH) failed for want of
// privilege (before Linux 6.10 it needs CAP_DAC_READ_SEARCH): later links
// go through /proc.
var emptyPathRefused atomic.Bool

// procFD says whether /proc is the kernel's: a link through
// /proc/self/fd/N follows that magic link to the unnamed file, and on a
// fake /proc it could be any file.
var procFD = sync.OnceValue(func() bool {
	var st unix.Statfs_t
	return unix.Statfs("/proc", &st) == nil && st.Type == unix.PROC_SUPER_MAGIC
})

// createUnnamed makes a new unnamed file in dh, or returns nil where it
// cannot: the caller then uses a temporary name, which reports any error
// that is not about unnamed files (a read-only or full file system).
func (dh *dirHandle) createUnnamed() *os.File {
	if !unnamedFiles || dh.noUnnamed.Load() {
		return nil
	}
	dir, err := dh.dirFile()
	if err != nil {
		return nil
	}
	fd, err := unix.Openat(int(dir.Fd()), ".", unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		// EOPNOTSUPP: a file system without them (NFS, some FUSE);
		// EISDIR: a kernel before 3.11, which reads the flag as
		// O_DIRECTORY; EINVAL: one that knows no such flags. The
		// directory's later files go straight to temporary names.
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL) {
			dh.noUnnamed.Store(true)
		}
		return nil
	}
	return os.NewFile(uintptr(fd), "unnamed file")
}

// linkUnnamed gives the unnamed file f the name base in dh. A name
// already there is an error matching fs.ErrExist: a link never replaces
// or follows anything. errNoLinks means this system links no unnamed
// file; the caller copies f to a temporary name instead.
func (dh *dirHandle) linkUnnamed(f *os.File, base string) error {
	dir, err := dh.dirFile()
	if err != nil {
		return err
	}
	err = linkFD(int(f.Fd()), int(dir.Fd()), base)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errNoLinks), errors.Is(err, unix.ENOENT), errors.Is(err, unix.EACCES),
		errors.Is(err, unix.EPERM), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EXDEV),
		errors.Is(err, unix.ELOOP):
		linksRefused.Add(1)
		dh.noUnnamed.Store(true)
		return errNoLinks
	default:
		return &os.LinkError{Op: "link", Old: "(unnamed file)", New: base, Err: err}
	}
}

// linkFD links the open file fd as name in the directory dirfd: by the
// descriptor itself where the kernel allows (Linux 6.10 on for the
// file's opener, or with CAP_DAC_READ_SEARCH), else through /proc.
func linkFD(fd, dirfd int, name string) error {
	if refuseLink != nil && refuseLink(name) {
		return unix.EPERM
	}
	if !emptyPathRefused.Load() {
		err := unix.Linkat(fd, "", dirfd, name, unix.AT_EMPTY_PATH)
		// ENOENT is how a kernel says AT_EMPTY_PATH is not allowed.
		if !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EPERM) {
			return err
		}
		emptyPathRefused.Store(true)
	}
	if !procFD() {
		return errNoLinks
	}
	return unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), dirfd, name, unix.AT_SYMLINK_FOLLOW)
}
