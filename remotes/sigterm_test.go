package remotes_test

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/remotes/remotetest"
)

// buildChatsafe builds the real chatsafe binary into a temporary directory.
func buildChatsafe(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "chatsafe")
	out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "../cmd/chatsafe").CombinedOutput()
	if err != nil {
		t.Fatalf("building chatsafe: %v\n%s", err, out)
	}
	return bin
}

// logLines collects a process's output and signals the first line that
// contains each awaited text.
type logLines struct {
	mu    sync.Mutex
	all   strings.Builder
	waits map[string]chan struct{}
	done  chan struct{}
}

func newLogLines(r io.Reader, await ...string) *logLines {
	l := &logLines{waits: map[string]chan struct{}{}, done: make(chan struct{})}
	for _, a := range await {
		l.waits[a] = make(chan struct{})
	}
	go func() {
		defer close(l.done)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			l.mu.Lock()
			l.all.WriteString(line + "\n")
			for a, ch := range l.waits {
				if strings.Contains(line, a) {
					close(ch)
					delete(l.waits, a)
				}
			}
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *logLines) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.all.String() }

// wait returns when a line containing text arrived; it fails the test if
// the process ends first or nothing comes within a minute.
func (l *logLines) wait(t *testing.T, text string) {
	t.Helper()
	l.mu.Lock()
	ch, ok := l.waits[text]
	l.mu.Unlock()
	if !ok {
		t.Fatalf("not awaiting %q", text)
	}
	select {
	case <-ch:
	case <-l.done:
		select {
		case <-ch:
		default:
			t.Fatalf("the daemon ended before logging %q:\n%s", text, l)
		}
	case <-time.After(time.Minute):
		t.Fatalf("no %q within a minute:\n%s", text, l)
	}
}

// TestSIGTERMAfterMultipartUpload runs the real daemon against rclone's own
// S3 server with every upload a multipart upload. rclone's lib/atexit
// installs its own SIGINT/SIGTERM handler on the first multipart upload and
// calls os.Exit(143) from it; the daemon must still stop cleanly: exit 0,
// "daemon stopped" logged.
func TestSIGTERMAfterMultipartUpload(t *testing.T) {
	bin := buildChatsafe(t)
	dir := t.TempDir()
	srv := remotetest.StartS3(t, filepath.Join(dir, "s3"))
	// upload_cutoff=0: every upload of known size is multipart.
	spec := fmt.Sprintf(":s3,provider=Rclone,endpoint='http://%s',access_key_id=%s,secret_access_key=%s,upload_cutoff=0:%s/chats",
		srv.Addr, remotetest.AccessKey, remotetest.SecretKey, remotetest.Bucket)
	src := filepath.Join(dir, "chats")
	if err := os.Mkdir(src, 0o700); err != nil {
		t.Fatal(err)
	}
	media := make([]byte, 6<<20) // more than one 5 MiB part
	rand.Read(media)
	if err := os.WriteFile(filepath.Join(src, "VID-1.mp4"), media, 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "chatsafe.yaml")
	yaml := fmt.Sprintf("source: %s\nstate_dir: %s\nstatus_socket: %s\nremotes:\n  - name: s3\n    url: \"%s\"\nsync:\n  quiet_period: 150ms\n  max_delay: 1s\nlog:\n  level: info\n  format: json\n",
		src, filepath.Join(dir, "state"), filepath.Join(dir, "run", "chatsafe.sock"), spec)
	cfg, err := configs.Parse(cfgPath, []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	key, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := instance.Create(t.Context(), cfg, cfgPath, key, nil); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "daemon", "--config", cfgPath)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	logs := newLogLines(pr, "delta uploaded", "daemon stopped")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { err := cmd.Wait(); pw.Close(); exited <- err }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-logs.done
	})
	logs.wait(t, "delta uploaded")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var werr error
	select {
	case werr = <-exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("the daemon did not stop within 30 s of SIGTERM:\n%s", logs)
	}
	<-logs.done
	var ee *exec.ExitError
	if errors.As(werr, &ee) || werr != nil {
		t.Fatalf("SIGTERM after a multipart upload: %v (want exit 0)\n%s", werr, logs)
	}
	if !strings.Contains(logs.String(), "daemon stopped") {
		t.Fatalf("exit 0 but no clean stop logged:\n%s", logs)
	}
}
