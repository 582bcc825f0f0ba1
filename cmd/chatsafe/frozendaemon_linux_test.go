package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stopProcess stops pid with SIGSTOP, as a suspended laptop or a `kill
// -STOP` leaves a daemon, and waits until the kernel shows it stopped
// (state T in /proc/PID/stat); the test's cleanup lets it go on.
func stopProcess(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
	stat := fmt.Sprintf("/proc/%d/stat", pid)
	for {
		b, err := os.ReadFile(stat)
		if err != nil {
			t.Fatal(err)
		}
		// "pid (comm) S ...": the state follows the last ")".
		if f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:])); len(f) > 0 && f[0] == "T" {
			return
		}
		select {
		case <-t.Context().Done():
			t.Fatal("the daemon never stopped")
		case <-time.After(time.Millisecond):
		}
	}
}

// TestStoppedDaemon: a daemon that does not answer (stopped with
// SIGSTOP) makes status and backup give up with exit 5 (README: the
// daemon unreachable), naming its pid and what to do, instead of
// waiting for ever. A minute's limit on each command stands for the user
// who would have waited; the bound is shortened from its 10 s.
func TestStoppedDaemon(t *testing.T) {
	s := newSetup(t)
	sock := filepath.Join(s.home, "run", "s.sock")
	setSocket(t, s.cfg, sock)
	pid := startDaemonBinary(t, s.home, s.cfg, sock)
	stopProcess(t, pid)
	defer func(d time.Duration) { daemonAnswerTimeout = d }(daemonAnswerTimeout)
	daemonAnswerTimeout = 200 * time.Millisecond

	for _, cmd := range []string{"status", "backup"} {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		r := runContext(ctx, s.home, cmd, "--config", s.cfg)
		cancel()
		r.want(t, exitUnreachable, fmt.Sprintf("pid %d", pid))
		for _, says := range []string{"did not answer", "ps ", "service"} {
			if !strings.Contains(r.stderr, says) {
				t.Errorf("%s with a stopped daemon does not say %q:\n%s", cmd, says, r.stderr)
			}
		}
	}
}
