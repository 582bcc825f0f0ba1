//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/chatsafe/chatsafe/remotes/remotetest"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/statusapi/client"
	"github.com/chatsafe/chatsafe/statusapi/peercred"
)

// holdingRemote is a WebDAV remote behind a proxy that holds the first
// request hold matches until its client goes away; held is closed when
// that request arrives.
type holdingRemote struct {
	spec, dir string
	held      chan struct{}
}

func newHoldingRemote(t *testing.T, hold func(*http.Request) bool) *holdingRemote {
	t.Helper()
	dav := remotetest.StartWebDAV(t, t.TempDir())
	target, err := url.Parse("http://" + dav.Addr)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	h := &holdingRemote{dir: filepath.Join(dav.Dir, "chats"), held: make(chan struct{})}
	var once sync.Once
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := false
		if hold(r) {
			once.Do(func() { first = true })
		}
		if first {
			close(h.held)
			select {
			case <-r.Context().Done():
			case <-done:
			}
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	h.spec = fmt.Sprintf(":webdav,vendor=rclone,url='%s':chats", srv.URL)
	return h
}

// interruptedBackup backs up once on a remote that holds the first
// request hold matches, then runs `chatsafe backup` as a real process,
// sends it sig when that request is held, and returns how it ended; the
// next backup then runs with nothing held.
func interruptedBackup(t *testing.T, sig syscall.Signal, hold func(*http.Request) bool) (r result, home, cfg string, remote *holdingRemote) {
	t.Helper()
	armed := false
	var mu sync.Mutex
	remote = newHoldingRemote(t, func(req *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		return armed && hold(req)
	})
	home = t.TempDir()
	src := filepath.Join(home, "chats")
	os.MkdirAll(src, 0o755)
	write(t, src, "msgstore.txt", "day 1")
	cfg = filepath.Join(home, "c.yaml")
	run(t, home, "init", "--source", src, "--remote", remote.spec, "--config", cfg, "--state-dir", filepath.Join(home, "state"),
		"--recovery-key-out", filepath.Join(home, "key.txt")).want(t, 0, "recovery key")
	setSocket(t, cfg, filepath.Join(home, "run", "s.sock"))
	run(t, home, "backup", "--config", cfg).want(t, 0, "saved")
	write(t, src, "msgstore.txt", "day 2")
	mu.Lock()
	armed = true
	mu.Unlock()

	cmd := exec.CommandContext(t.Context(), chatsafeBinary(t), "backup", "--config", cfg)
	cmd.Env = append(os.Environ(), "HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-remote.held:
	case err := <-exited:
		t.Fatalf("backup ended before the request was held: %v\n%s", err, stderr.String())
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	err := <-exited
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return result{cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()}, home, cfg, remote
}

// The check of the head before a commit reads the head's trailer from
// the remote: the first GET of a delta in the second backup.
func headCheck(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/deltas/")
}

// The upload of the committed delta.
func deltaUpload(r *http.Request) bool {
	return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/deltas/")
}

// TestBackupInterrupted: Ctrl-C (SIGINT) or SIGTERM stops a one-shot
// backup with 128 + the signal's number, a message that says it was
// interrupted and what that leaves, and nothing lost: the next backup
// saves the snapshot, or uploads the one saved.
func TestBackupInterrupted(t *testing.T) {
	t.Run("before the commit", func(t *testing.T) {
		r, home, cfg, _ := interruptedBackup(t, syscall.SIGINT, headCheck)
		r.want(t, 130, "chatsafe: interrupted: no snapshot was saved")
		if strings.Contains(r.stderr, "context canceled") {
			t.Errorf("the message says how, not what: %s", r.stderr)
		}
		run(t, home, "backup", "--config", cfg).want(t, 0, "saved")
	})
	t.Run("while uploading", func(t *testing.T) {
		r, home, cfg, remote := interruptedBackup(t, syscall.SIGINT, deltaUpload)
		r.want(t, 130, "chatsafe: interrupted: the snapshot is saved locally and will be uploaded by the next backup")
		if strings.Contains(r.stderr, "context canceled") {
			t.Errorf("the message says how, not what: %s", r.stderr)
		}
		run(t, home, "backup", "--config", cfg).want(t, 0, "nothing changed")
		if d, _ := filepath.Glob(filepath.Join(remote.dir, "deltas", "*")); len(d) != 2 {
			t.Fatalf("the remote holds %d deltas after the next backup, want 2", len(d))
		}
	})
	t.Run("SIGTERM", func(t *testing.T) {
		r, _, _, _ := interruptedBackup(t, syscall.SIGTERM, deltaUpload)
		r.want(t, 143, "chatsafe: stopped by SIGTERM: the snapshot is saved locally")
	})
}

// reachExit130 and reachExit143: TestEveryExitCode's cases.
func reachExit130(t *testing.T) {
	r, _, _, _ := interruptedBackup(t, syscall.SIGINT, deltaUpload)
	r.want(t, 130, "interrupted")
}

func reachExit143(t *testing.T) {
	r, _, _, _ := interruptedBackup(t, syscall.SIGTERM, headCheck)
	r.want(t, 143, "stopped by SIGTERM")
}

// blockingDaemon is a daemon's API whose backup waits until its caller
// goes away; entered is closed when one is asked for.
type blockingDaemon struct{ entered chan struct{} }

func (b *blockingDaemon) Status() statusapi.Status        { return statusapi.Status{} }
func (b *blockingDaemon) Snapshots() []statusapi.Snapshot { return nil }
func (b *blockingDaemon) Backup(ctx context.Context, _ statusapi.BackupRequest) (statusapi.BackupResult, error) {
	close(b.entered)
	<-ctx.Done()
	return statusapi.BackupResult{}, ctx.Err()
}
func (b *blockingDaemon) Subscribe() (<-chan statusapi.Event, func()) { return nil, func() {} }
func (b *blockingDaemon) SetLogLevel(string) error                    { return nil }
func (b *blockingDaemon) LogLevel() string                            { return "info" }
func (b *blockingDaemon) Metrics() http.Handler                       { return http.NotFoundHandler() }

// TestBackupThroughDaemonInterrupted: Ctrl-C while the daemon backs up
// for `backup` says that the daemon goes on, with exit 130.
func TestBackupThroughDaemonInterrupted(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "run", "s.sock")
	ln, err := peercred.ListenMode(sock, 0o700, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	b := &blockingDaemon{entered: make(chan struct{})}
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- (&statusapi.Server{Handler: statusapi.NewHandler(b, nil)}).Serve(sctx, ln) }()
	defer func() { stop(); <-served }()

	c := client.New(sock)
	defer c.Close()
	ctx, cancel := context.WithCancelCause(t.Context())
	go func() {
		<-b.entered
		cancel(signalCause{syscall.SIGINT}) // as signalContext does on Ctrl-C
	}()
	var stdout, stderr bytes.Buffer
	err = interrupted(ctx, backupThroughDaemon(ctx, c, BackupOptions{}, &stdout, &stderr))
	if exitCode(err) != exitInterrupted || err.Error() != "interrupted: the daemon goes on backing up by itself (`chatsafe status` shows how it does)" {
		t.Fatalf("exit %d: %v", exitCode(err), err)
	}
}
