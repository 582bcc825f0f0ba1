package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/statusapi"
)

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestBackupThroughDaemonExitCodes: a backup that this installation's
// daemon runs fails with the exit code and the message the same backup
// gets when it runs here (README, "Exit codes"), for each failure the
// daemon's backup can meet. Each case breaks the repository after a first
// backup and changes the source; the backup then runs here, and again
// through the daemon.
func TestBackupThroughDaemonExitCodes(t *testing.T) {
	cases := map[int]func(t *testing.T, s setup){
		// Integrity: the newest delta is gone from the remote (README:
		// `backup` exits 6 where `snapshots` would exit 9).
		6: func(t *testing.T, s setup) {
			write(t, s.src, "second.txt", "a second snapshot")
			run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
			deltas := deltaPaths(t, s.remote)
			if len(deltas) < 2 {
				t.Fatalf("want two deltas, have %v", deltas)
			}
			if err := os.Remove(deltas[len(deltas)-1]); err != nil {
				t.Fatal(err)
			}
		},
		// Taken over: a device that joined with `restore --join` backed up
		// after this one.
		7: func(t *testing.T, s setup) {
			home := t.TempDir()
			cfg, src := filepath.Join(home, "b.yaml"), filepath.Join(home, "chats")
			run(t, home, "restore", "--remote", s.remote, "--recovery-key-file", s.keyFile, "--to", src, "--join",
				"--config", cfg, "--state-dir", filepath.Join(home, "state")).want(t, 0, "restored")
			setSocket(t, cfg, filepath.Join(home, "run", "s.sock"))
			write(t, src, "from-b.txt", "the other device")
			run(t, home, "backup", "--config", cfg).want(t, 0, "saved")
		},
	}
	for _, code := range slices.Sorted(maps.Keys(cases)) {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			s := newSetup(t)
			sock := filepath.Join(s.home, "run", "s.sock")
			setSocket(t, s.cfg, sock)
			run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
			cases[code](t, s)
			write(t, s.src, "changed.txt", "this device goes on")
			local := run(t, s.home, "backup", "--config", s.cfg)
			local.want(t, code, "")

			startDaemonBinary(t, s.home, s.cfg, sock)
			viaDaemon := run(t, s.home, "backup", "--config", s.cfg)
			viaDaemon.want(t, code, "")
			for _, noise := range []string{"answered", "500", "Internal Server Error"} {
				if strings.Contains(viaDaemon.stderr, noise) {
					t.Errorf("the daemon's error says %q:\n%s", noise, viaDaemon.stderr)
				}
			}
			if l, d := lastLine(local.stderr), lastLine(viaDaemon.stderr); l != d {
				t.Errorf("the message differs:\nhere:          %s\nby the daemon: %s", l, d)
			}
		})
	}
}

// TestAPIClassEveryExitCode: every failure code of the README's table has
// a class in the daemon's API, and an error with that class exits with it.
// A signal's codes (128 + its number) are the CLI's own: a signal to the
// daemon stops the daemon.
func TestAPIClassEveryExitCode(t *testing.T) {
	for _, code := range readmeExitCodes(t) {
		if code == exitOK || code > 128 {
			continue
		}
		class, ok := apiClasses[code]
		if !ok {
			t.Errorf("exit code %d has no class in the daemon's API: add one to apiClasses", code)
			continue
		}
		if got := exitCode(fmt.Errorf("asking: %w", statusapi.WithClass(errors.New("x"), class))); got != code {
			t.Errorf("class %q exits %d, want %d", class, got, code)
		}
	}
	if got := exitCode(statusapi.WithClass(errors.New("x"), "from_a_newer_daemon")); got != exitFailure {
		t.Errorf("an unknown class exits %d, want %d", got, exitFailure)
	}
}
