package remotetest_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/remotes/remotetest"
)

func TestServers(t *testing.T) {
	for name, start := range map[string]func(testing.TB, string) *remotetest.Server{
		"webdav": remotetest.StartWebDAV, "s3": remotetest.StartS3,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := start(t, t.TempDir())
			r, err := remotes.Open(t.Context(), srv.Spec, remotes.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if strings.Contains(r.String(), remotetest.SecretKey) {
				t.Errorf("String() shows the secret: %q", r.String())
			}
			if err := r.Put(t.Context(), "deltas/a", bytes.NewReader([]byte("one")), 3); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(filepath.Join(srv.ObjectsDir(), "deltas", "a")); err != nil || string(b) != "one" {
				t.Fatalf("object on the server's disk: %q, %v", b, err)
			}

			srv.Stop()
			if srv.Running() {
				t.Fatal("Running after Stop")
			}
			rr := remotes.WithRetry(r, remotes.RetryOptions{Attempts: 2, Initial: time.Millisecond, Max: time.Millisecond})
			if _, err := rr.Stat(t.Context(), "deltas/a"); !errors.Is(err, remotes.ErrUnreachable) {
				t.Fatalf("Stat with the server stopped: %v, want ErrUnreachable", err)
			}

			addr := srv.Addr
			srv.Start()
			if srv.Addr != addr {
				t.Fatalf("restarted on %s, want %s", srv.Addr, addr)
			}
			rc, err := r.Get(t.Context(), "deltas/a", 0, -1)
			if err != nil {
				t.Fatalf("Get after Start: %v", err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			if string(b) != "one" {
				t.Fatalf("Get after Start = %q", b)
			}
		})
	}
}
