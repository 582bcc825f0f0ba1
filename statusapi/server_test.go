package statusapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/statusapi/client"
	"github.com/chatsafe/chatsafe/statusapi/peercred"
)

// childEnv makes the test binary act as a client of the socket it names
// (run as another uid by TestOtherUIDRefused).
const childEnv = "CHATSAFE_STATUSAPI_CHILD_SOCKET"

func TestMain(m *testing.M) {
	if sock := os.Getenv(childEnv); sock != "" {
		c := client.New(sock)
		_, err := c.Status(context.Background())
		switch {
		case err == nil:
			fmt.Println("ALLOWED")
		case errors.Is(err, client.ErrRefused):
			fmt.Println("REFUSED:", err)
		default:
			fmt.Println("OTHER:", err)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// backend is a small in-memory Backend: the API is tested over a real
// socket with real HTTP, the daemon's logic is tested in package daemon.
type backend struct {
	mu      sync.Mutex
	level   string
	backups int
	subs    []chan statusapi.Event
	subbed  chan struct{}
}

func (b *backend) Status() statusapi.Status {
	return statusapi.Status{State: statusapi.StateIdle, Source: "/chats", KeySource: "cache", Version: "test",
		Remotes: []statusapi.RemoteStatus{{Name: "nas", Remote: "/mnt/nas"}}}
}
func (b *backend) Snapshots() []statusapi.Snapshot {
	return []statusapi.Snapshot{{ID: "00112233445566778899aabbccddeeff", ShortID: "00112233", Seq: 1, Files: 2, Bytes: 3}}
}
func (b *backend) Backup(ctx context.Context, req statusapi.BackupRequest) (statusapi.BackupResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.backups++
	if req.Full {
		return statusapi.BackupResult{}, errors.New("full scan failed")
	}
	return statusapi.BackupResult{Unchanged: true, PendingDeltas: b.backups}, nil
}
func (b *backend) Subscribe() (<-chan statusapi.Event, func()) {
	ch := make(chan statusapi.Event, 4)
	b.mu.Lock()
	b.subs = append(b.subs, ch)
	b.mu.Unlock()
	close(b.subbed)
	return ch, func() {}
}
func (b *backend) SetLogLevel(l string) error {
	if l != "debug" && l != "info" {
		return fmt.Errorf("log level %q is not one of debug, info", l)
	}
	b.mu.Lock()
	b.level = l
	b.mu.Unlock()
	return nil
}
func (b *backend) LogLevel() string { b.mu.Lock(); defer b.mu.Unlock(); return b.level }
func (b *backend) Metrics() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "chatsafe_backups_total 7\n") })
}

// serve starts the API on a socket in dir and returns its path.
func serve(t *testing.T, b *backend, sock string, dirMode, sockMode os.FileMode) {
	t.Helper()
	ln, err := peercred.ListenMode(sock, dirMode, sockMode)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := &statusapi.Server{Handler: statusapi.NewHandler(b, nil)}
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

func newBackend() *backend { return &backend{level: "info", subbed: make(chan struct{})} }

func TestRoundTrip(t *testing.T) {
	b := newBackend()
	sock := filepath.Join(t.TempDir(), "run", "chatsafe.sock")
	serve(t, b, sock, 0o700, 0o600)
	ctx := t.Context()
	c := client.New(sock)
	defer c.Close()

	st, err := c.Status(ctx)
	if err != nil || st.State != "idle" || st.Source != "/chats" || len(st.Remotes) != 1 || st.Remotes[0].Name != "nas" {
		t.Fatalf("status: %+v, %v", st, err)
	}
	snaps, err := c.Snapshots(ctx)
	if err != nil || len(snaps) != 1 || snaps[0].ShortID != "00112233" {
		t.Fatalf("snapshots: %+v, %v", snaps, err)
	}
	res, err := c.Backup(ctx, statusapi.BackupRequest{})
	if err != nil || !res.Unchanged || res.PendingDeltas != 1 {
		t.Fatalf("backup: %+v, %v", res, err)
	}
	if _, err := c.Backup(ctx, statusapi.BackupRequest{Full: true}); err == nil || !strings.Contains(err.Error(), "full scan failed") {
		t.Fatalf("backup error not passed on: %v", err)
	}
	if lvl, err := c.SetLogLevel(ctx, "debug"); err != nil || lvl != "debug" {
		t.Fatalf("loglevel: %q, %v", lvl, err)
	}
	if _, err := c.SetLogLevel(ctx, "loud"); err == nil || !strings.Contains(err.Error(), "not one of") {
		t.Fatalf("bad level accepted: %v", err)
	}
	m, err := c.Metrics(ctx)
	if err != nil || !strings.Contains(m, "chatsafe_backups_total 7") {
		t.Fatalf("metrics: %q, %v", m, err)
	}

	// Events: one sent after the subscription arrives is received.
	evCtx, cancel := context.WithCancel(ctx)
	got := make(chan statusapi.Event, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- c.Events(evCtx, func(ev statusapi.Event) error { got <- ev; return errors.New("enough") })
	}()
	<-b.subbed
	b.mu.Lock()
	b.subs[0] <- statusapi.Event{Type: statusapi.EventState, State: statusapi.StateScanning}
	b.mu.Unlock()
	if ev := <-got; ev.Type != "state" || ev.State != "scanning" {
		t.Fatalf("event: %+v", ev)
	}
	if err := <-errc; err == nil || err.Error() != "enough" {
		t.Fatalf("Events: %v", err)
	}
	cancel()
}

func TestSocketModesAndStaleSocket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	sock := filepath.Join(dir, "chatsafe.sock")
	// A stale socket file of a dead daemon is replaced.
	ln, err := peercred.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("stale socket not left behind for the test: %v", err)
	}
	b := newBackend()
	serve(t, b, sock, 0o700, 0o600)
	for p, want := range map[string]os.FileMode{dir: 0o700, sock: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %o, want %o", p, fi.Mode().Perm(), want)
		}
	}
	// A live one is not taken over.
	if _, err := peercred.Listen(sock); !errors.Is(err, peercred.ErrInUse) {
		t.Fatalf("second listener: %v, want ErrInUse", err)
	}
}

func TestBrowserHeadersRefused(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	serve(t, newBackend(), sock, 0o700, 0o600)
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	hc := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	for _, h := range []string{"Origin", "Referer"} {
		req, _ := http.NewRequest("GET", "http://chatsafe/v1/status", nil)
		req.Header.Set(h, "http://evil.example")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || strings.Contains(string(body), "/chats") {
			t.Fatalf("%s: %s %q", h, resp.Status, body)
		}
	}
	req, _ := http.NewRequest("GET", "http://chatsafe/v1/status", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("plain request: %s", resp.Status)
	}
}

func TestNoDaemon(t *testing.T) {
	dir := t.TempDir()
	c := client.New(filepath.Join(dir, "none.sock"))
	_, err := c.Status(t.Context())
	if !errors.Is(err, client.ErrNoDaemon) || !strings.Contains(err.Error(), "chatsafe daemon") {
		t.Fatalf("missing socket: %v", err)
	}
	// A socket file nobody listens on (a daemon that was killed).
	sock := filepath.Join(dir, "dead.sock")
	ln, err := peercred.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := client.New(sock).Status(t.Context()); !errors.Is(err, client.ErrNoDaemon) {
		t.Fatalf("dead socket: %v", err)
	}
}

// TestOtherUIDRefused runs a client as uid 65534 against a socket that
// file permissions would let it reach, so that the SO_PEERCRED check
// itself must refuse it.
func TestOtherUIDRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test must run as root (it starts a client as uid 65534)")
	}
	dir, err := os.MkdirTemp("", "chatsafe-peercred-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The test binary lives in a private build directory: copy it where
	// uid 65534 can run it.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "client.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "run", "chatsafe.sock")
	serve(t, newBackend(), sock, 0o755, 0o666)

	run := func(cred *syscall.Credential) string {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, exe)
		cmd.Env = append(os.Environ(), childEnv+"="+sock)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("client: %v: %s", err, out)
		}
		return string(out)
	}
	if out := run(&syscall.Credential{Uid: 65534, Gid: 65534}); !strings.HasPrefix(out, "REFUSED:") || !strings.Contains(out, "uid 65534") {
		t.Fatalf("uid 65534: %q", out)
	}
	if out := run(nil); !strings.HasPrefix(out, "ALLOWED") {
		t.Fatalf("root: %q", out)
	}
}

// TestSharedSocketDirRefused: a status_socket in a directory others can
// write or read (/tmp, mode 1777) is refused, and the directory is left as
// it was; only a directory chatsafe creates gets its mode set.
func TestSharedSocketDirRefused(t *testing.T) {
	for _, mode := range []os.FileMode{os.ModeSticky | 0o777, 0o750, 0o705} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "shared")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			// Chmod, not Mkdir's mode: the umask would clear the bits.
			if err := os.Chmod(dir, mode); err != nil {
				t.Fatal(err)
			}
			ln, err := peercred.Listen(filepath.Join(dir, "chatsafe.sock"))
			if err == nil {
				ln.Close()
				t.Fatalf("a socket in a directory of mode %s was accepted", mode)
			}
			if !strings.Contains(err.Error(), "put the socket in a directory only you can write") {
				t.Errorf("error does not say what to do: %v", err)
			}
			fi, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode() & (os.ModePerm | os.ModeSticky); got != mode&(os.ModePerm|os.ModeSticky) {
				t.Errorf("the directory's mode was changed from %s to %s", mode, got)
			}
		})
	}
	// A private existing directory is used as it is.
	dir := t.TempDir()
	ln, err := peercred.Listen(filepath.Join(dir, "chatsafe.sock"))
	if err != nil {
		t.Fatalf("private directory refused: %v", err)
	}
	ln.Close()
}
