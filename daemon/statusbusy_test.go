package daemon_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/remotes/remotetest"
	"github.com/chatsafe/chatsafe/statusapi"
)

// slowLister is a real WebDAV server seen through a proxy whose listings
// of the deltas directory, once armed, wait until released: a remote that
// is slow to list (a large history over a poor link). With the server
// stopped the proxy answers 502, which is out of reach.
type slowLister struct {
	spec    string
	mu      sync.Mutex
	armed   bool
	entered chan struct{} // closed when an armed listing arrives
	once    sync.Once
	release chan struct{}
}

func newSlowLister(t *testing.T, srv *remotetest.Server) *slowLister {
	t.Helper()
	target, err := url.Parse("http://" + srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &slowLister{entered: make(chan struct{}), release: make(chan struct{})}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorLog = log.New(io.Discard, "", 0) // 502 while the server is stopped
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		armed := p.armed
		p.mu.Unlock()
		if armed && r.Method == "PROPFIND" && r.Header.Get("Depth") == "1" && strings.HasSuffix(strings.TrimSuffix(r.URL.Path, "/"), "/deltas") {
			p.once.Do(func() { close(p.entered) })
			select {
			case <-p.release:
			case <-r.Context().Done():
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	t.Cleanup(p.let) // before the server closes: no handler waits then
	p.spec = fmt.Sprintf(":webdav,vendor=rclone,url='%s':chats", hs.URL)
	return p
}

func (p *slowLister) arm() {
	p.mu.Lock()
	p.armed = true
	p.mu.Unlock()
}

// let ends the wait of every listing, armed or to come.
func (p *slowLister) let() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.release:
	default:
		close(p.release)
	}
}

// TestStatusAnswersWhileTheRemoteListsSlowly: a daemon that opened from
// its state (its remote out of reach at start) reads the remote's history
// when the remote is back, before any upload. That read may take long on
// a slow remote; status must answer meanwhile (`chatsafe status` gives up
// after 10 s and calls the daemon stuck), from what the daemon knew.
func TestStatusAnswersWhileTheRemoteListsSlowly(t *testing.T) {
	srv := remotetest.StartWebDAV(t, t.TempDir())
	p := newSlowLister(t, srv)
	in := newInstallSpec(t, []string{p.spec}, "")
	chat := openChat(t, in.src)
	firstSeq := ranOnline(t, in, chat)

	srv.Stop()
	d, _ := startedFromState(t, in)
	p.arm()
	srv.Start()
	select {
	case <-p.entered: // the uploader's retry reads the history again
	case <-time.After(60 * time.Second):
		t.Fatal("no listing of the deltas once the remote was back")
	}
	answer := make(chan statusapi.Status, 1)
	go func() { answer <- d.Status() }()
	select {
	case st := <-answer:
		if st.RepositoryID == "" || st.LastSnapshot == nil || st.LastSnapshot.Seq != firstSeq {
			t.Fatalf("status during the slow listing: %s", statusJSON(st))
		}
	case <-time.After(30 * time.Second):
		p.let()
		t.Fatal("status waited for the remote's listing (chatsafe status would call the daemon stuck)")
	}
	p.let()
}
