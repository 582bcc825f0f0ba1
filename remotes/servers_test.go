package remotes

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/rclone/rclone/fs/rc"

	// rclone's own servers, started in-process through its rc "serve/start".
	_ "github.com/rclone/rclone/cmd/serve/s3"
	_ "github.com/rclone/rclone/cmd/serve/webdav"

	// Registers the WebDAV methods with chi once, before any server starts
	// (rclone registers them per server start, racing with running ones).
	_ "github.com/chatsafe/chatsafe/remotes/remotetest"
)

// testServer is an rclone "serve webdav"/"serve s3" running in this process
// over a local directory.
type testServer struct {
	t    *testing.T
	typ  string
	dir  string
	addr string // host:port
	id   string
	args rc.Params
}

// startServer serves dir over typ ("webdav" or "s3") on 127.0.0.1. Extra
// params are rclone serve options in rc form (user, pass, auth_key, ...).
// addr "" picks a free port.
func startServer(t *testing.T, typ, dir, addr string, extra rc.Params) *testServer {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	s := &testServer{t: t, typ: typ, dir: dir, args: extra}
	s.start(addr)
	t.Cleanup(s.stop)
	return s
}

func (s *testServer) start(addr string) {
	s.t.Helper()
	in := rc.Params{
		"type": s.typ,
		"fs":   s.dir,
		"addr": addr,
	}
	for k, v := range s.args {
		in[k] = v
	}
	out, err := rc.Calls.Get("serve/start").Fn(context.Background(), in)
	if err != nil {
		s.t.Fatalf("starting rclone serve %s: %v", s.typ, err)
	}
	s.id, _ = out["id"].(string)
	got, _ := out["addr"].(string)
	_, port, err := net.SplitHostPort(got)
	if err != nil {
		s.t.Fatalf("rclone serve %s address %q: %v", s.typ, got, err)
	}
	s.addr = net.JoinHostPort("127.0.0.1", port)
}

// stop shuts the server down; stopping twice is fine.
func (s *testServer) stop() {
	if s.id == "" {
		return
	}
	_, err := rc.Calls.Get("serve/stop").Fn(context.Background(), rc.Params{"id": s.id})
	if err != nil {
		s.t.Errorf("stopping rclone serve %s: %v", s.typ, err)
	}
	s.id = ""
}

func (s *testServer) url() string { return "http://" + s.addr }

// webdavSpec is a connection string for a WebDAV server.
func webdavSpec(s *testServer, dir string) string {
	return fmt.Sprintf(":webdav,vendor=rclone,url='%s':%s", s.url(), dir)
}

const (
	testAccessKey = "chatsafe-test-access"
	testSecretKey = "chatsafe-test-SECRET-do-not-log"
)

// s3Spec is a connection string for an rclone S3 server.
func s3Spec(s *testServer, accessKey, secretKey, bucketPath string) string {
	return fmt.Sprintf(":s3,provider=Rclone,endpoint='%s',access_key_id=%s,secret_access_key=%s:%s",
		s.url(), accessKey, secretKey, bucketPath)
}
