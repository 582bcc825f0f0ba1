package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/faults"
)

// runCrash runs the binary with a crash point armed and expects it to die
// by SIGKILL there.
func runCrash(t *testing.T, home, point string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), chatsafeBinary(t), args...)
	cmd.Env = append(os.Environ(), "HOME="+home, faults.EnvVar+"="+point)
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != -1 {
		t.Fatalf("%v with %s armed: %v (want killed by SIGKILL)\n%s", args, point, err, out)
	}
}

// A real kill -9 at each crash point of backup, upload and prune: the
// repository then checks clean, restores the last committed snapshot, and
// the next run completes.
func TestKill9AtCrashPoints(t *testing.T) {
	for _, tc := range []struct{ point, cmd string }{
		{"backup:spooled", "backup"},
		{"upload:put", "backup"},
		{"prune:written", "prune"},
		{"prune:uploaded", "prune"},
		{"prune:deleted-one", "prune"},
	} {
		t.Run(tc.point, func(t *testing.T) {
			s := newSetup(t)
			for i := 0; i < 4; i++ {
				os.WriteFile(filepath.Join(s.src, fmt.Sprintf("n%d.txt", i)), []byte(fmt.Sprint("note ", i)), 0o644)
				run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
			}
			os.WriteFile(filepath.Join(s.src, "last.txt"), []byte("the newest change"), 0o644)
			runCrash(t, s.home, tc.point, tc.cmd, "--config", s.cfg)

			run(t, s.home, "check", "--config", s.cfg, "--read-data").want(t, 0, "no errors")
			// The next run completes and leaves nothing pending.
			run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "")
			run(t, s.home, "prune", "--config", s.cfg).want(t, 0, "forgot")
			run(t, s.home, "check", "--config", s.cfg, "--read-data").want(t, 0, "no errors")
			dst := filepath.Join(t.TempDir(), "out")
			run(t, t.TempDir(), "restore", "--remote", s.remote, "--recovery-key-file", s.keyFile, "--to", dst).want(t, 0, "restored")
			if b, err := os.ReadFile(filepath.Join(dst, "last.txt")); err != nil || string(b) != "the newest change" {
				t.Fatalf("newest change after crash at %s: %q %v", tc.point, b, err)
			}
		})
	}
}
