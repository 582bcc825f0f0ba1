//go:build linux

package daemon_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/internal/tmpfs"
	"github.com/chatsafe/chatsafe/logs"
	"github.com/chatsafe/chatsafe/statusapi"
)

// fillUp writes a file that takes every free byte of the file system
// holding dir; removing it frees the space again.
func fillUp(t *testing.T, dir string) string {
	t.Helper()
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The last blocks may be short of a whole write: ENOSPC is the goal.
	if _, err := f.Write(make([]byte, int64(fs.Bavail)*fs.Bsize)); err != nil && !strings.Contains(err.Error(), "no space left") {
		t.Fatal(err)
	}
	return filler
}

// TestStateDiskFullAtStart: the state directory's disk is full when the
// daemon starts, on a new state directory (its device id not written
// yet) and on one a daemon used before (its repository state). It must
// not exit: it starts in "error" with an error that says to free space,
// tries again by itself, and backs up once the space is back.
func TestStateDiskFullAtStart(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root (CI runs as root)")
	}
	defer daemon.SetOpenBackoff(200 * time.Millisecond)()
	for _, usedBefore := range []bool{false, true} {
		t.Run(fmt.Sprintf("used-before=%v", usedBefore), func(t *testing.T) {
			state := tmpfs.Mount(t, 8<<20)
			in := newInstallOn(t, []string{filepath.Join(t.TempDir(), "remote")}, "", state)
			chat := openChat(t, in.src)
			chat.write(t, 20)
			var before uint64 // the newest snapshot before the start
			if usedBefore {
				d := runInProcess(t, in, daemon.Options{})
				before = waitFor(t, d, "the first snapshot", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) }).LastSnapshot.Seq
				stopInProcess(d)
				chat.write(t, 5)
			}
			filler := fillUp(t, state)
			d, done := startFull(t, in)
			ch, unsub := d.Subscribe()
			defer unsub()
			deadline := time.NewTimer(60 * time.Second)
			defer deadline.Stop()
			for st := d.Status(); st.State != statusapi.StateError; st = d.Status() {
				select {
				case <-ch:
				case err := <-done:
					done <- err // for the cleanup
					t.Fatalf("the daemon stopped on a full state disk at start: %v", err)
				case <-deadline.C:
					t.Fatalf("no state error 60 s after a start on a full state disk: %s", statusJSON(st))
				}
			}
			st := d.Status()
			if !strings.Contains(st.LastError, "no space left") || !strings.Contains(st.LastError, "free some space") || !strings.Contains(st.LastError, state) {
				t.Fatalf("status with the state disk full at start does not say to free space on it: %s", statusJSON(st))
			}
			t.Logf("state %s: %s", st.State, st.LastError)
			if _, err := d.Backup(t.Context(), statusapi.BackupRequest{}); err == nil || !strings.Contains(err.Error(), "free some space") {
				t.Fatalf("a backup asked for with the state disk full: %v; want the same error", err)
			}

			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			waitFor(t, d, "a snapshot of the whole source once space is back", func(st statusapi.Status) bool {
				return st.LastSnapshot != nil && st.LastSnapshot.Seq > before && idle(st) && st.LastError == ""
			})
			sameTree(t, in.src, restoreFrom(t, in.remotes[0], in.key))
		})
	}
}

// startFull runs a daemon on in that may not get ready; it stops with
// the test. done has Run's result.
func startFull(t *testing.T, in *install) (*daemon.Daemon, chan error) {
	t.Helper()
	cfg := in.config(t)
	l, err := logs.New(logs.Options{Level: "warn", Format: "json", Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(daemon.Options{Config: cfg, Log: l, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return d, done
}
