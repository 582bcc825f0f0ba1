package daemon_test

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/remotes/remotetest"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/rclone/rclone/fs/config/obscure"
)

// slowLister is a real WebDAV server seen through a proxy whose requests
// of the kind it is armed for wait until released: a remote that is slow
// to answer them (a large history over a poor link). With the server
// stopped the proxy answers 502, which is out of reach.
type slowLister struct {
	spec    string
	mu      sync.Mutex
	armed   func(*http.Request) bool // nil: none waits
	entered chan struct{}            // closed when an armed listing arrives
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
		if armed != nil && armed(r) {
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

// arm makes the requests match picks wait.
func (p *slowLister) arm(match func(*http.Request) bool) {
	p.mu.Lock()
	p.armed = match
	p.mu.Unlock()
}

// listsDeltas picks the listings of the deltas directory.
func listsDeltas(r *http.Request) bool {
	return r.Method == "PROPFIND" && r.Header.Get("Depth") == "1" && strings.HasSuffix(strings.TrimSuffix(r.URL.Path, "/"), "/deltas")
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
	p.arm(listsDeltas)
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
	// The status page asks for the snapshots too.
	snaps := make(chan []statusapi.Snapshot, 1)
	go func() { snaps <- d.Snapshots() }()
	select {
	case s := <-snaps:
		if len(s) == 0 || s[len(s)-1].Seq != firstSeq {
			t.Fatalf("snapshots during the slow listing: %+v", s)
		}
	case <-time.After(30 * time.Second):
		p.let()
		t.Fatal("the snapshots waited for the remote's listing (the status page would hang)")
	}
	p.let()
}

// silentServer accepts connections and never says a word, until let:
// an SSH server that hangs (its host overloaded) as seen by a client
// waiting for its greeting. let closes what it accepted.
type silentServer struct {
	addr    string
	entered chan struct{} // closed at the first connection
	mu      sync.Mutex
	conns   []net.Conn
	done    bool
}

func newSilentServer(t *testing.T) *silentServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silentServer{addr: ln.Addr().String(), entered: make(chan struct{})}
	go func() {
		for first := true; ; first = false {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.done {
				c.Close()
			} else {
				s.conns = append(s.conns, c)
			}
			s.mu.Unlock()
			if first {
				close(s.entered)
			}
		}
	}()
	t.Cleanup(func() { ln.Close(); s.let() })
	return s
}

func (s *silentServer) let() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

// TestStatusAnswersWhileAReloadOpensASlowRemote: a reload adds an SFTP
// remote whose server does not answer; opening it (rclone connects at
// once) must not keep status waiting.
func TestStatusAnswersWhileAReloadOpensASlowRemote(t *testing.T) {
	in := newInstall(t, 1)
	chat := openChat(t, in.src)
	chat.write(t, 10)
	srv := newSilentServer(t)
	host, port, _ := net.SplitHostPort(srv.addr)
	spec := fmt.Sprintf(":sftp,host=%s,port=%s,user=nobody,pass=%s:chats", host, port, obscure.MustObscure("not asked"))
	d := runInProcess(t, in, daemon.Options{Retry: fastRetry, Reload: func() (*configs.Config, error) {
		cfg, err := configs.Load(in.cfgPath)
		if err != nil {
			return nil, err
		}
		cfg.Remotes = append(cfg.Remotes, configs.Remote{Name: "silent", URL: spec})
		return cfg, nil
	}})
	waitFor(t, d, "the first snapshot", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })
	d.Reload()
	select {
	case <-srv.entered:
	case <-time.After(60 * time.Second):
		t.Fatal("the reload never connected to the added remote")
	}
	answer := make(chan statusapi.Status, 1)
	go func() { answer <- d.Status() }()
	select {
	case st := <-answer:
		if st.LastSnapshot == nil || len(st.Remotes) == 0 {
			t.Fatalf("status while the added remote opens: %s", statusJSON(st))
		}
	case <-time.After(30 * time.Second):
		srv.let()
		t.Fatal("status waited for the added remote to open (chatsafe status would call the daemon stuck)")
	}
	srv.let()
}
