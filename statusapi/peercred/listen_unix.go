//go:build unix

package peercred

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// ListenMode is Listen with explicit modes for a directory it creates and
// for the socket. Tests use it to let other users reach the socket so that
// the uid check itself is exercised.
func ListenMode(path string, dirMode, sockMode os.FileMode) (net.Listener, error) {
	if err := socketDir(filepath.Dir(path), dirMode); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(path); err == nil {
		c, derr := net.DialTimeout("unix", path, time.Second)
		if derr == nil {
			c.Close()
			return nil, fmt.Errorf("%w: %s (is another chatsafe daemon running?)", ErrInUse, path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing the stale socket %s: %w", path, err)
		}
	}
	// The umask keeps the socket private between bind and chmod.
	old := unix.Umask(0o777 &^ int(sockMode))
	ln, err := net.Listen("unix", path)
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, sockMode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("restricting the socket %s: %w", path, err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	return ln, nil
}

// socketDir creates dir (and missing parents) with mode when it does not
// exist. An existing directory is used only if nobody else can read or
// write it; its mode is never changed, since it may be shared (/tmp).
func socketDir(dir string, mode os.FileMode) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, mode); err != nil {
			return fmt.Errorf("creating the socket directory %s: %w", dir, err)
		}
		// MkdirAll's mode passes through the umask.
		if err := os.Chmod(dir, mode); err != nil {
			return fmt.Errorf("restricting the socket directory %s: %w", dir, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking the socket directory %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("the socket directory %s is not a directory: choose another status_socket", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("the socket directory %s has mode %s, so other users can reach or replace the socket: put the socket in a directory only you can write (status_socket, e.g. in a new directory of mode 0700), or remove the group and other permissions from %s", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// Dial connects to the status socket at path.
func Dial(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", path)
}

// self is this process's identity.
func self() Cred {
	uid := uint32(os.Getuid())
	return Cred{PID: int32(os.Getpid()), UID: uid, GID: uint32(os.Getgid()), Admin: uid == 0}
}
