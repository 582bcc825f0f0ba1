// Package peercred owns who may talk to the daemon's unix socket: it
// creates the socket (directory 0700, socket 0600, stale sockets of a dead
// daemon removed, a live one refused), takes the peer's credentials once
// per connection with SO_PEERCRED, and checks them in one place (Require):
// only the daemon's own uid and root get through, and requests that carry
// Origin or Referer (a browser tricked into talking to the socket through a
// proxy) are refused.
package peercred

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// ErrInUse means another process is serving on the socket path.
var ErrInUse = errors.New("the status socket is in use by another process")

// Cred is the identity of a connection's peer process.
type Cred struct {
	PID int32
	UID uint32
	GID uint32
}

type ctxKey struct{}

type connCred struct {
	cred Cred
	err  error
}

// Listen creates a unix socket at path, owned by the caller and closed to
// everyone else: the directory is created 0700 (an existing one is
// tightened to 0700) and the socket is 0600. A socket left by a daemon
// that died is removed; one that still answers gives ErrInUse.
func Listen(path string) (net.Listener, error) {
	return ListenMode(path, 0o700, 0o600)
}

// ListenMode is Listen with explicit modes. Tests use it to let other
// users reach the socket so that the uid check itself is exercised.
func ListenMode(path string, dirMode, sockMode os.FileMode) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("creating the socket directory %s: %w", dir, err)
	}
	if err := os.Chmod(dir, dirMode); err != nil {
		return nil, fmt.Errorf("restricting the socket directory %s: %w", dir, err)
	}
	if _, err := os.Lstat(path); err == nil {
		c, derr := net.DialTimeout("unix", path, time.Second)
		if derr == nil {
			c.Close()
			return nil, fmt.Errorf("%w: %s (is another chatsafe daemon running? check with `chatsafe status`)", ErrInUse, path)
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

// Get reads the peer credentials of a unix connection.
func Get(c net.Conn) (Cred, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return Cred{}, fmt.Errorf("peer credentials: %T is not a unix socket connection", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", err)
	}
	var uc2 *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		uc2, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", err)
	}
	if serr != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", serr)
	}
	return Cred{PID: uc2.Pid, UID: uc2.Uid, GID: uc2.Gid}, nil
}

// ConnContext is an http.Server ConnContext: it takes the peer's
// credentials once, when the connection is accepted.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	cred, err := Get(c)
	return context.WithValue(ctx, ctxKey{}, connCred{cred, err})
}

// FromContext returns the credentials ConnContext stored.
func FromContext(ctx context.Context) (Cred, error) {
	v, ok := ctx.Value(ctxKey{}).(connCred)
	if !ok {
		return Cred{}, errors.New("peer credentials were not taken for this connection")
	}
	return v.cred, v.err
}

// Allowed reports whether a peer may use the API: the same uid as this
// process, or root.
func Allowed(c Cred) bool {
	return c.UID == 0 || c.UID == uint32(os.Getuid())
}

// Require lets a request through only from an allowed peer and without
// browser headers. It is the one place the API checks its caller.
func Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" || r.Header.Get("Referer") != "" {
			http.Error(w, "requests from browsers are refused", http.StatusForbidden)
			return
		}
		cred, err := FromContext(r.Context())
		if err != nil {
			http.Error(w, "cannot identify the caller", http.StatusForbidden)
			return
		}
		if !Allowed(cred) {
			http.Error(w, fmt.Sprintf("uid %d may not use this daemon: run chatsafe as uid %d or root", cred.UID, os.Getuid()), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
