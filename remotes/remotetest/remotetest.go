// Package remotetest is test support for packages that need real network
// remotes: rclone's own `serve webdav` and `serve s3`, started in this
// process through rclone's rc "serve/start" on a loopback port, over a
// local directory. A server can be stopped and started again on the same
// port, to play an outage. It is imported only by tests.
package remotetest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/rclone/rclone/fs/rc"

	// rclone's own servers, registered with rc "serve/start".
	_ "github.com/rclone/rclone/cmd/serve/s3"
	_ "github.com/rclone/rclone/cmd/serve/webdav"
)

// Credentials of the S3 servers StartS3 runs. They are test values; a
// remote's String() must never show the secret.
const (
	AccessKey = "chatsafe-test-access"
	SecretKey = "chatsafe-test-SECRET-do-not-log"
	// Bucket is the bucket StartS3 creates; specs point below it.
	Bucket = "bucket"
)

// rclone's serve webdav registers the WebDAV methods in chi's global
// method table each time a server starts, while servers already running
// read that table: a data race (rclone v1.76.0). Registering them once,
// before any server runs, makes every later registration a read.
func init() {
	for _, m := range []string{"COPY", "LOCK", "MKCOL", "MOVE", "PROPFIND", "PROPPATCH", "UNLOCK"} {
		chi.RegisterMethod(m)
	}
}

// Server is an rclone server running in this process over Dir.
type Server struct {
	// Spec is the connection string of the remote this server serves,
	// for remotes.Open (a sub-path "chats" below the served directory).
	Spec string
	// Dir is the local directory served; Dir/chats (or
	// Dir/bucket/chats for S3) holds the remote's objects.
	Dir string
	// Addr is host:port, fixed for the server's life.
	Addr string

	t    testing.TB
	typ  string
	args rc.Params

	mu sync.Mutex
	id string // rc server id; "" while stopped
}

// StartWebDAV serves dir over WebDAV on 127.0.0.1 (a free port) until the
// test ends.
func StartWebDAV(t testing.TB, dir string) *Server {
	t.Helper()
	s := start(t, "webdav", dir, nil)
	s.Spec = fmt.Sprintf(":webdav,vendor=rclone,url='http://%s':chats", s.Addr)
	return s
}

// StartS3 serves dir over S3 on 127.0.0.1 (a free port) until the test
// ends, with the bucket Bucket created and AccessKey/SecretKey required.
func StartS3(t testing.TB, dir string) *Server {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, Bucket), 0o700); err != nil {
		t.Fatalf("creating the S3 bucket directory: %v", err)
	}
	s := start(t, "s3", dir, rc.Params{"auth_key": []string{AccessKey + "," + SecretKey}})
	s.Spec = fmt.Sprintf(":s3,provider=Rclone,endpoint='http://%s',access_key_id=%s,secret_access_key=%s:%s/chats",
		s.Addr, AccessKey, SecretKey, Bucket)
	return s
}

func start(t testing.TB, typ, dir string, args rc.Params) *Server {
	t.Helper()
	s := &Server{Dir: dir, t: t, typ: typ, args: args}
	if err := s.startOn("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) startOn(addr string) error {
	in := rc.Params{"type": s.typ, "fs": s.Dir, "addr": addr}
	for k, v := range s.args {
		in[k] = v
	}
	out, err := rc.Calls.Get("serve/start").Fn(context.Background(), in)
	if err != nil {
		return fmt.Errorf("starting rclone serve %s on %s: %w", s.typ, addr, err)
	}
	id, _ := out["id"].(string)
	got, _ := out["addr"].(string)
	_, port, err := net.SplitHostPort(got)
	if err != nil {
		return fmt.Errorf("rclone serve %s reported address %q: %w", s.typ, got, err)
	}
	s.mu.Lock()
	s.id = id
	s.Addr = net.JoinHostPort("127.0.0.1", port)
	s.mu.Unlock()
	return nil
}

// Stop shuts the server down: connections are refused until Start.
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	id := s.id
	s.id = ""
	s.mu.Unlock()
	if id == "" {
		return
	}
	if _, err := rc.Calls.Get("serve/stop").Fn(context.Background(), rc.Params{"id": id}); err != nil {
		s.t.Errorf("stopping rclone serve %s: %v", s.typ, err)
	}
}

// Start starts a stopped server again on the same port, over the same
// directory; starting a running one does nothing.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	running := s.id != ""
	s.mu.Unlock()
	if running {
		return
	}
	if err := s.startOn(s.Addr); err != nil {
		s.t.Fatal(err)
	}
}

// Restart stops the server and starts it again on the same port.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.Start()
}

// Running reports whether the server is serving.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id != ""
}

// ObjectsDir is the local directory holding the remote's objects.
func (s *Server) ObjectsDir() string {
	if s.typ == "s3" {
		return filepath.Join(s.Dir, Bucket, "chats")
	}
	return filepath.Join(s.Dir, "chats")
}
