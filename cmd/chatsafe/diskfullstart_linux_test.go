package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/internal/tmpfs"
	"github.com/chatsafe/chatsafe/statusapi"
)

// TestStatusOfDaemonOnFullStateDisk: the daemon starts while the disk of
// its state directory is full, on a state directory a backup used and on
// one only init wrote (no device id yet). It runs in state "error" and
// cannot name its repository yet, but it runs this very config: `status`
// shows the error with what to do (exit 0, README "Exit codes"), and
// `backup` fails with the same words (exit 1, docs/service.md "A full
// state disk"), rather than either taking it for another installation's
// daemon.
func TestStatusOfDaemonOnFullStateDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root (CI runs as root)")
	}
	for _, backedUp := range []bool{true, false} {
		t.Run(fmt.Sprintf("backed-up=%v", backedUp), func(t *testing.T) {
			home := t.TempDir()
			src := filepath.Join(home, "chats")
			os.MkdirAll(src, 0o755)
			write(t, src, "msgstore.txt", "hello")
			disk := tmpfs.Mount(t, 8<<20)
			state := filepath.Join(disk, "state")
			cfg := filepath.Join(home, "chatsafe.yaml")
			run(t, home, "init", "--source", src, "--remote", filepath.Join(home, "remote"), "--config", cfg, "--state-dir", state).want(t, 0, "recovery key")
			if backedUp {
				run(t, home, "backup", "--config", cfg).want(t, 0, "saved")
				write(t, src, "msgstore.txt", "hello again")
			}
			loaded, err := configs.Load(cfg)
			if err != nil {
				t.Fatal(err)
			}
			fillDisk(t, disk)

			startDaemonBinary(t, home, cfg, loaded.StatusSocket)
			waitStatus(t, loaded.StatusSocket, nil, func(st statusapi.Status) bool { return st.State == statusapi.StateError }, func(st statusapi.Status, err error) string {
				return fmt.Sprintf("the daemon on a full state disk is not in state error after 60s: %+v, %v", st, err)
			}, nil)

			r := run(t, home, "status", "--config", cfg)
			r.want(t, 0, "no space left")
			if !strings.Contains(r.stdout, ": error") || !strings.Contains(r.stdout, "free some space") || !strings.Contains(r.stdout, state) {
				t.Fatalf("status of the daemon on a full state disk does not show the error and what to do:\n%s", r.stdout)
			}
			r = run(t, home, "status", "--json", "--config", cfg)
			var st statusapi.Status
			if err := json.Unmarshal([]byte(r.stdout), &st); r.code != 0 || err != nil {
				t.Fatalf("status --json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
			}
			if st.State != statusapi.StateError || !strings.Contains(st.LastError, "free some space") {
				t.Fatalf("status --json of the daemon on a full state disk: state %q, last_error %q", st.State, st.LastError)
			}

			r = run(t, home, "backup", "--config", cfg)
			r.want(t, 1, "free some space")
			if strings.Contains(r.stderr, "another installation") {
				t.Fatalf("backup took the daemon for another installation's:\n%s", r.stderr)
			}
		})
	}
}

// fillDisk writes a file that takes every free byte of the file system
// holding dir (a tmpfs of the test's: it goes with it).
func fillDisk(t *testing.T, dir string) {
	t.Helper()
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The last blocks may be short of a whole write: ENOSPC is the goal.
	if _, err := f.Write(make([]byte, int64(fs.Bavail)*fs.Bsize)); err != nil && !strings.Contains(err.Error(), "no space left") {
		t.Fatal(err)
	}
}
