// Package peercred owns who may talk to the daemon's status socket. The
// portable API is tiny: Listen creates the endpoint closed to everyone but
// its owner, Dial reaches it, ConnContext takes the peer's identity once per
// connection, and Require checks it in one place: only the daemon's own user
// and root (administrators on Windows) get through, and requests that carry
// Origin or Referer (a browser tricked into talking to the socket through a
// proxy) are refused.
//
// The operating systems differ only in the files named after them:
//
//   - Linux: a unix socket; the peer's uid from SO_PEERCRED.
//   - macOS: a unix socket; the peer's uid from LOCAL_PEERCRED (the same
//     xucred getpeereid(3) reads) and its pid from LOCAL_PEERPID.
//   - Windows: a named pipe (github.com/Microsoft/go-winio) whose security
//     descriptor admits only the owner, SYSTEM and Administrators; the
//     peer's account is read from its process token. A named pipe rather
//     than an AF_UNIX socket in an ACL'd directory: the pipe's own
//     descriptor is checked by the kernel on every open, whatever directory
//     ACLs inheritance did to a socket file, and the server can name its
//     client (GetNamedPipeClientProcessId), which Windows' AF_UNIX cannot
//     portably do. The configured socket path names the pipe (see PipeName).
//   - Other systems: no peer credentials, so every request is refused.
//
// On Unix only a directory this package creates gets its mode set: an
// existing socket directory that others can read or write is refused, never
// changed (a status_socket in /tmp must not make /tmp private).
package peercred

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
)

// ErrInUse means another process is serving on the socket path.
var ErrInUse = errors.New("the status socket is in use by another process")

// Cred is the identity of a connection's peer process.
type Cred struct {
	PID int32
	// UID and GID are the peer's on Unix.
	UID uint32
	GID uint32
	// SID is the peer's account on Windows ("S-1-5-21-...").
	SID string
	// Admin is set for root on Unix, and for SYSTEM or an elevated member
	// of Administrators on Windows.
	Admin bool
}

// account names the peer's account for messages: its uid or its SID.
func (c Cred) account() string {
	if c.SID != "" {
		return "account " + c.SID
	}
	return fmt.Sprintf("uid %d", c.UID)
}

type ctxKey struct{}

type connCred struct {
	cred Cred
	err  error
}

// Listen creates the status endpoint at path, closed to everyone but the
// caller. On Unix the socket's directory is created 0700 when missing and
// refused when others can read or write it, and the socket is 0600. A socket
// left by a daemon that died is removed; one that still answers gives
// ErrInUse.
func Listen(path string) (net.Listener, error) {
	return ListenMode(path, 0o700, 0o600)
}

// Get reads the peer credentials of a connection accepted from Listen.
func Get(c net.Conn) (Cred, error) {
	cred, err := getCred(c)
	if err != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", err)
	}
	return cred, nil
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

// allowed is the decision, apart from where the identities come from: the
// same user as this process, or root (an administrator on Windows).
func allowed(peer, me Cred) bool {
	if peer.Admin {
		return true
	}
	if me.SID != "" || peer.SID != "" {
		return me.SID != "" && peer.SID == me.SID
	}
	return peer.UID == me.UID
}

// refusal says why peer was refused and what to do.
func refusal(peer, me Cred) string {
	if me.SID != "" {
		return fmt.Sprintf("%s may not use this daemon: run chatsafe as %s or from an elevated (Administrator) prompt", peer.account(), me.SID)
	}
	return fmt.Sprintf("%s may not use this daemon: run chatsafe as uid %d or root", peer.account(), me.UID)
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
		if me := self(); !allowed(cred, me) {
			http.Error(w, refusal(cred, me), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
