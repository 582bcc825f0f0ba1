package remotes

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/remotes/remotetest"
)

// TestCancelledPutStopsItsCleanUp: the first Put to a remote clears the
// stale partials of interrupted uploads, which lists tmp/. A Put
// cancelled while that listing hangs (a slow server, Ctrl-C) returns at
// once, not a minute later; and the clean-up is not spent by it: the next
// Put still clears them.
func TestCancelledPutStopsItsCleanUp(t *testing.T) {
	dav := remotetest.StartWebDAV(t, filepath.Join(t.TempDir(), "dav"))
	target, err := url.Parse("http://" + dav.Addr)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	held := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hold := false
		if r.Method == "PROPFIND" && strings.Contains(r.URL.Path, "/tmp") {
			once.Do(func() { hold = true })
		}
		if hold {
			close(held)
			<-r.Context().Done() // until the client gives up
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	spec := fmt.Sprintf(":webdav,vendor=rclone,url='%s':chats", srv.URL)

	const stale = "tmp/deltas/00aa.0123456789abcdef.partial"
	plant(t, mustOpen(t, dav.Spec, Options{}), stale, []byte("half an upload"), time.Now().Add(-2*time.Hour))

	r := mustOpen(t, spec, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Put(ctx, "deltas/0001", bytes.NewReader([]byte("delta 1")), 7) }()
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("the first Put never listed tmp/")
	}
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a Put cancelled during its clean-up succeeded")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a Put cancelled during its clean-up did not return within 20 s")
	}

	put(t, r, "deltas/0002", []byte("delta 2"))
	if raw := rawNames(t, r); slices.Contains(raw, stale) {
		t.Errorf("the stale partial survived the next Put (the cancelled one spent the clean-up): %q", raw)
	}
}
