package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/statusapi/client"
)

// daemonRun is a `chatsafe daemon` process started by startOrExit.
type daemonRun struct {
	started bool   // its socket answered; stop it with stop
	code    int    // its exit code, when it exited first
	stderr  string // what it printed, when it exited first
	stop    func() // SIGTERM, then waits for it to exit 0
}

// startOrExit runs `chatsafe daemon args...` as a real process and returns
// once it has exited or its socket sock answers, whichever comes first.
func startOrExit(t *testing.T, home, sock string, args ...string) daemonRun {
	t.Helper()
	cmd := exec.Command(chatsafeBinary(t), append([]string{"daemon"}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+home)
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			cmd.Process.Kill()
		}
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("daemon %v did not stop within 60s", args)
		}
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("daemon %v: exit %d after SIGTERM\n%s", args, code, errb.String())
		}
	}
	t.Cleanup(stop)
	c := client.New(sock)
	defer c.Close()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case <-done:
			stopped = true
			return daemonRun{code: cmd.ProcessState.ExitCode(), stderr: errb.String(), stop: func() {}}
		case <-deadline:
			t.Fatalf("daemon %v neither exited nor answered on %s within 60s\n%s", args, sock, errb.String())
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		_, err := c.Status(ctx)
		cancel()
		if err == nil {
			return daemonRun{started: true, stop: stop}
		}
	}
}

// chatDir makes a chat-history directory under parent holding n files.
func chatDir(t *testing.T, parent, name string, n int) string {
	t.Helper()
	dir := filepath.Join(parent, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.txt", name, i)), []byte(fmt.Sprint(name, " message ", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// shortTempDir is a temporary directory with a short path: the sockets of
// the installations under it fit beside their state (a long one, such as
// t.TempDir's for a long test name, would put them in the machine's runtime
// directory).
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// defaultsInstallation makes an installation on the embedded defaults the
// way the README's first command does, at a config path of the test's
// (never the machine's): `chatsafe daemon --config F --source src`, a real
// process, stopped once its socket answers, then a backup of src.
func defaultsInstallation(t *testing.T, home, src string) (cfgPath, sock string) {
	t.Helper()
	inst := filepath.Join(home, "inst")
	cfgPath, sock = filepath.Join(inst, "config.yaml"), filepath.Join(inst, "state", "chatsafe.sock")
	if configs.DefaultSocket(filepath.Join(inst, "state")) != sock {
		t.Fatalf("%s is too long a path for the socket beside the state: use shortTempDir", home)
	}
	d := startOrExit(t, home, sock, "--config", cfgPath, "--source", src)
	if !d.started {
		t.Fatalf("the first daemon exited %d:\n%s", d.code, d.stderr)
	}
	d.stop()
	run(t, home, "backup", "--config", cfgPath).want(t, 0, "")
	return cfgPath, sock
}

// The README's first command run again on an existing installation with
// another folder refuses (exit 2) instead of backing that folder up into
// the same history, and says how to change the source on purpose; the
// configured source, however spelled, still starts.
func TestDaemonRefusesAnotherSource(t *testing.T) {
	home := shortTempDir(t)
	chats := chatDir(t, home, "chats", 9)
	other := chatDir(t, home, "other-chats", 4)
	cfgPath, sock := defaultsInstallation(t, home, chats)
	before := snapshotIDs(t, home, cfgPath)

	d := startOrExit(t, home, sock, "--config", cfgPath, "--source", other)
	if d.started {
		d.stop()
		t.Fatalf("the daemon started on %s, an installation whose source is %s: it backs the other folder up into the same history", other, chats)
	}
	for _, want := range []string{other, chats, cfgPath, "source:"} {
		if d.code != 2 || !strings.Contains(d.stderr, want) {
			t.Fatalf("exit %d, want 2 with %q:\n%s", d.code, want, d.stderr)
		}
	}
	if after := snapshotIDs(t, home, cfgPath); len(after) != len(before) {
		t.Fatalf("snapshots %v after the refused start, %v before", after, before)
	}
	if cfg, err := configs.Load(cfgPath); err != nil || cfg.Source != chats {
		t.Fatalf("the config's source changed: %v %v", cfg, err)
	}

	// The configured source, spelled otherwise, is the same directory.
	same := []string{chats + string(filepath.Separator), filepath.Join(chats, "..", "chats")}
	link := filepath.Join(home, "link-to-chats")
	if err := os.Symlink(chats, link); err == nil {
		same = append(same, link)
	} else {
		t.Logf("no symlink: %v", err)
	}
	for _, src := range same {
		d := startOrExit(t, home, sock, "--config", cfgPath, "--source", src)
		if !d.started {
			t.Fatalf("--source %s, the configured source: exit %d\n%s", src, d.code, d.stderr)
		}
		d.stop()
	}
}
