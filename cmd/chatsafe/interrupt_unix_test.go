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
	"time"

	"golang.org/x/sys/unix"

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

// heldRun is `chatsafe ARGS... --config CFG` running as a real process
// on a remote that holds the first request its hold matches; stderr
// tells (seen) when the first signal's line is written.
type heldRun struct {
	cmd       *exec.Cmd
	exited    chan error // the result of Wait
	stdout    bytes.Buffer
	stderr    *signalWriter
	home, cfg string
	remote    *holdingRemote
}

// startHeld backs up once on a remote that holds the first request hold
// matches, changes the source, then starts `chatsafe args... --config
// CFG` and returns once that request is held; the runs after it find
// nothing held.
func startHeld(t *testing.T, hold func(*http.Request) bool, args ...string) *heldRun {
	t.Helper()
	armed := false
	var mu sync.Mutex
	h := &heldRun{exited: make(chan error, 1), stderr: &signalWriter{want: ": stopping (", seen: make(chan struct{})}}
	h.remote = newHoldingRemote(t, func(req *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		return armed && hold(req)
	})
	h.home = t.TempDir()
	src := filepath.Join(h.home, "chats")
	os.MkdirAll(src, 0o755)
	write(t, src, "msgstore.txt", "day 1")
	h.cfg = filepath.Join(h.home, "c.yaml")
	run(t, h.home, "init", "--source", src, "--remote", h.remote.spec, "--config", h.cfg, "--state-dir", filepath.Join(h.home, "state"),
		"--recovery-key-out", filepath.Join(h.home, "key.txt")).want(t, 0, "recovery key")
	setSocket(t, h.cfg, filepath.Join(h.home, "run", "s.sock"))
	run(t, h.home, "backup", "--config", h.cfg).want(t, 0, "saved")
	write(t, src, "msgstore.txt", "day 2")
	mu.Lock()
	armed = true
	mu.Unlock()

	h.cmd = exec.CommandContext(t.Context(), chatsafeBinary(t), append(args, "--config", h.cfg)...)
	h.cmd.Env = append(os.Environ(), "HOME="+h.home)
	h.cmd.Stdout, h.cmd.Stderr = &h.stdout, h.stderr
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { h.exited <- h.cmd.Wait() }()
	select {
	case <-h.remote.held:
	case err := <-h.exited:
		t.Fatalf("%v ended before the request was held: %v\n%s", args, err, h.stderr.text())
	}
	return h
}

func (h *heldRun) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := h.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// ended is how the process ended, once it has (err: Wait's).
func (h *heldRun) ended(t *testing.T, err error) result {
	t.Helper()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return result{h.cmd.ProcessState.ExitCode(), h.stdout.String(), h.stderr.text()}
}

// text is what was written so far.
func (w *signalWriter) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// interruptedBackup backs up once on a remote that holds the first
// request hold matches, then runs `chatsafe backup` as a real process,
// sends it sig when that request is held, and returns how it ended; the
// next backup then runs with nothing held.
func interruptedBackup(t *testing.T, sig syscall.Signal, hold func(*http.Request) bool) (r result, home, cfg string, remote *holdingRemote) {
	t.Helper()
	h := startHeld(t, hold, "backup")
	h.signal(t, sig)
	return h.ended(t, <-h.exited), h.home, h.cfg, h.remote
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

// The listing of tmp/ by which the first upload of a run clears what
// interrupted uploads left there (remotes' cleanStale). It goes on past a
// cancellation, for up to a minute: held, the command does not stop at
// the first signal.
func staleCleanup(r *http.Request) bool {
	return r.Method == "PROPFIND" && strings.HasSuffix(strings.TrimSuffix(r.URL.Path, "/"), "/chats/tmp")
}

// TestSecondSignalQuitsAtOnce: a command whose clean stop waits on a
// remote that does not answer says at the first signal that it stops,
// and how to quit at once; the second signal ends it at once, as the
// signal ends a program that does not catch it (a shell reports 130 or
// 143). That loses nothing: the next backup uploads the snapshot the
// killed one had saved, and it restores. The daemon gets the same on
// SIGTERM, from systemd or docker stop.
func TestSecondSignalQuitsAtOnce(t *testing.T) {
	for _, tc := range []struct {
		cmd  string
		sig  syscall.Signal
		line string
	}{
		{"backup", syscall.SIGINT, "chatsafe: stopping (press Ctrl-C again to quit at once)\n"},
		{"daemon", syscall.SIGTERM, "chatsafe: SIGTERM: stopping (a second SIGTERM quits at once)\n"},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			name := unix.SignalName(tc.sig)
			h := startHeld(t, staleCleanup, tc.cmd)
			h.signal(t, tc.sig)
			// Bounds for a failure only: each wait ends with the line
			// or with the process.
			select {
			case <-h.stderr.seen:
			case err := <-h.exited:
				t.Fatalf("%s stopped at the first %v: the held request did not hold it (%v)\n%s", tc.cmd, name, err, h.stderr.text())
			case <-time.After(20 * time.Second):
				t.Errorf("%s does not say, 20s after the first %v, that it stops and how to quit at once:\n%s", tc.cmd, name, h.stderr.text())
			}
			h.signal(t, tc.sig)
			var err error
			select {
			case err = <-h.exited:
			case <-time.After(20 * time.Second):
				t.Fatalf("%s still runs 20s after the second %v:\n%s", tc.cmd, name, h.stderr.text())
			}
			r := h.ended(t, err)
			ws, _ := h.cmd.ProcessState.Sys().(syscall.WaitStatus)
			if !(ws.Signaled() && ws.Signal() == tc.sig) && r.code != 128+int(tc.sig) {
				t.Fatalf("%s after the second %v: %v, want killed by it\n%s", tc.cmd, name, h.cmd.ProcessState, r.stderr)
			}
			if strings.Count(r.stderr, tc.line) != 1 {
				t.Errorf("stderr says %q %d times, want once:\n%s", tc.line, strings.Count(r.stderr, tc.line), r.stderr)
			}

			run(t, h.home, "backup", "--config", h.cfg).want(t, 0, "")
			if d, _ := filepath.Glob(filepath.Join(h.remote.dir, "deltas", "*")); len(d) != 2 {
				t.Fatalf("the remote holds %d deltas after the next backup, want 2", len(d))
			}
			run(t, h.home, "check", "--config", h.cfg, "--read-data").want(t, 0, "no errors")
			dst := filepath.Join(t.TempDir(), "out")
			run(t, t.TempDir(), "restore", "--remote", h.remote.spec, "--recovery-key-file", filepath.Join(h.home, "key.txt"), "--to", dst).want(t, 0, "restored")
			if b, err := os.ReadFile(filepath.Join(dst, "msgstore.txt")); err != nil || string(b) != "day 2" {
				t.Fatalf("restored after the kill: %q, %v; want day 2", b, err)
			}
		})
	}
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
