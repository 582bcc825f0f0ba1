//go:build unix

package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestDaemonStopsCleanlyOnSignal: `chatsafe daemon` in the foreground
// stops cleanly on Ctrl-C (SIGINT), as on SIGTERM from systemd or docker
// stop, and exits 0 (README, "Exit codes": the daemon's exception to 130
// and 143): stopping is what it was asked to do, not a failure.
func TestDaemonStopsCleanlyOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			s := newSetup(t)
			sock := filepath.Join(s.home, "run", "s.sock")
			setSocket(t, s.cfg, sock)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			cmd := exec.CommandContext(ctx, chatsafeBinary(t), "daemon", "--config", s.cfg)
			cmd.Env = append(os.Environ(), "HOME="+s.home)
			var errb strings.Builder
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			waitSocket(t, sock, exited, errb.String)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			var err error
			select {
			case err = <-exited:
			case <-time.After(30 * time.Second):
				t.Fatalf("the daemon still runs 30s after %v", unix.SignalName(sig))
			}
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatal(err)
			}
			if code := cmd.ProcessState.ExitCode(); code != 0 {
				t.Fatalf("the daemon exits %d on %v, want 0\n%s", code, unix.SignalName(sig), errb.String())
			}
			if !strings.Contains(errb.String(), "stopping") {
				t.Errorf("the daemon does not say it stops:\n%s", errb.String())
			}
		})
	}
}
