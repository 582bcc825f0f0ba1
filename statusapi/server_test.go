package statusapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chatsafe/chatsafe/internal/installguard"
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
	os.Exit(installguard.Run(m))
}

// backend is a small in-memory Backend: the API is tested over a real
// socket with real HTTP, the daemon's logic is tested in package daemon.
type backend struct {
	mu      sync.Mutex
	level   string
	backups int
	subs    []chan statusapi.Event
	subbed  chan struct{}
	// backupErr, when set, is every backup's error.
	backupErr error
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
	if b.backupErr != nil {
		return statusapi.BackupResult{}, b.backupErr
	}
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

func TestBrowserHeadersRefused(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "run", "s.sock")
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

// TestBackupErrorClass: a backend error with a class reaches the client
// as that error, with its class and its message alone; one without (as
// every error of a daemon older than classes) reads as before.
func TestBackupErrorClass(t *testing.T) {
	b := newBackend()
	sock := filepath.Join(t.TempDir(), "run", "chatsafe.sock")
	serve(t, b, sock, 0o700, 0o600)
	c := client.New(sock)
	defer c.Close()

	b.backupErr = statusapi.WithClass(fmt.Errorf("cycle: %w", errors.New("taken over: another device writes")), statusapi.ClassTakenOver)
	_, err := c.Backup(t.Context(), statusapi.BackupRequest{})
	if statusapi.ClassOf(err) != statusapi.ClassTakenOver || err.Error() != "cycle: taken over: another device writes" {
		t.Fatalf("classed error: %q, class %q", err, statusapi.ClassOf(err))
	}
	b.backupErr = errors.New("disk full")
	_, err = c.Backup(t.Context(), statusapi.BackupRequest{})
	if statusapi.ClassOf(err) != "" || err == nil || err.Error() != "the daemon answered POST /v1/backup with 500 Internal Server Error: disk full" {
		t.Fatalf("error without a class: %q, class %q", err, statusapi.ClassOf(err))
	}
}
