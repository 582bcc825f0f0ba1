package daemon_test

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/logs"
	"github.com/chatsafe/chatsafe/remotes/remotetest"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/store"
)

// runExit is Run's end: exited closes once err is set.
type runExit struct {
	exited chan struct{}
	err    error
	cancel context.CancelFunc
}

// stop stops the daemon before the test ends and waits for Run to return.
func (e *runExit) stop(t *testing.T) {
	t.Helper()
	e.cancel()
	select {
	case <-e.exited:
		if e.err != nil {
			t.Fatalf("Run: %v", e.err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return after the stop")
	}
}

// startOffline runs the daemon of in without waiting for it to be ready
// (its first remote may be out of reach).
func startOffline(t *testing.T, in *install, opts daemon.Options) (*daemon.Daemon, *runExit) {
	t.Helper()
	cfg := in.config(t)
	l, err := logs.New(logs.Options{Level: "warn", Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	opts.Config, opts.Log, opts.Version = cfg, l, "test"
	d, err := daemon.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := &runExit{exited: make(chan struct{}), cancel: cancel}
	go func() {
		done.err = d.Run(ctx)
		close(done.exited)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done.exited:
			if done.err != nil && !t.Failed() {
				t.Errorf("Run: %v", done.err)
			}
		case <-time.After(60 * time.Second):
			t.Error("Run did not return after the stop")
		}
	})
	return d, done
}

// waitForOrExit is waitFor, failing at once when Run returns.
func waitForOrExit(t *testing.T, d *daemon.Daemon, done *runExit, what string, ok func(statusapi.Status) bool) statusapi.Status {
	t.Helper()
	ch, cancel := d.Subscribe()
	defer cancel()
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for {
		if st := d.Status(); ok(st) {
			return st
		}
		select {
		case <-ch:
		case <-done.exited:
			t.Fatalf("waiting for %s: the daemon exited: %v", what, done.err)
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; status %s", what, statusJSON(d.Status()))
		}
	}
}

// TestFirstRemoteDownAtStart: the daemon's only remote (the one it reads
// the repository from) is out of reach when it starts, as on a laptop
// that boots offline. The daemon starts all the same: its status is
// "offline" and names the remote as unreachable, with when it tries
// again; nothing is committed meanwhile. Once the server is back it opens
// the repository and backs up the chats.
func TestFirstRemoteDownAtStart(t *testing.T) {
	srv := remotetest.StartWebDAV(t, t.TempDir())
	in := newInstallSpec(t, []string{srv.Spec}, "")
	srv.Stop()
	chat := openChat(t, in.src)
	chat.write(t, 40)
	d, done := startOffline(t, in, daemon.Options{Retry: fastRetry})

	st := waitForOrExit(t, d, done, "the offline state", func(st statusapi.Status) bool {
		return st.State == "offline" && len(st.Remotes) == 1 && st.Remotes[0].LastError != ""
	})
	if r := st.Remotes[0]; r.Name != "r0" || !strings.Contains(r.LastError, "unreachable") || !strings.Contains(r.LastError, "trying again") {
		t.Fatalf("the remote's status while it is out of reach: %+v", r)
	}
	if st.LastError == "" {
		t.Fatalf("status while offline: %s", statusJSON(st))
	}
	// Nothing committed while offline: no delta in the spool, none on
	// the remote (its server keeps what it was given in its directory).
	if got := deltasUnder(t, in.state, srv.Dir); len(got) != 0 {
		t.Fatalf("deltas while offline: %v", got)
	}

	if h := d.History(); len(h.Errors) == 0 || h.Errors[0].Remote != "r0" || !strings.Contains(h.Errors[0].Error, "unreachable") {
		t.Fatalf("the status page's errors while offline: %+v", h.Errors)
	}
	if _, err := d.Backup(context.Background(), statusapi.BackupRequest{}); !errors.Is(err, statusapi.ErrOffline) {
		t.Fatalf("a backup asked for while offline: %v, want %v", err, statusapi.ErrOffline)
	}

	srv.Start()
	waitForOrExit(t, d, done, "the first snapshot once the remote is back", func(st statusapi.Status) bool {
		return st.LastSnapshot != nil && idle(st)
	})
	sameTree(t, in.src, restoreFrom(t, srv.Spec, in.key))
	if len(deltasUnder(t, srv.Dir)) == 0 {
		t.Fatal("deltasUnder sees no delta on the remote after the backup")
	}
}

// deltasUnder lists the delta objects and spooled deltas under dirs.
func deltasUnder(t *testing.T, dirs ...string) []string {
	t.Helper()
	var out []string
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if parent := filepath.Base(filepath.Dir(p)); !e.IsDir() && (parent == "deltas" || parent == "spool") {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestOfflineRetriesKeepOneError: each failed try to open while offline
// updates one entry of the status page's errors, rather than adding one
// a try and pushing the older errors off the list.
func TestOfflineRetriesKeepOneError(t *testing.T) {
	defer daemon.SetOpenBackoff(10 * time.Millisecond)()
	srv := remotetest.StartWebDAV(t, t.TempDir())
	in := newInstallSpec(t, []string{srv.Spec}, "")
	srv.Stop()
	d, done := startOffline(t, in, daemon.Options{Retry: fastRetry})
	ch, cancel := d.Subscribe()
	defer cancel()
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for tries := 0; tries < 4; {
		select {
		case ev := <-ch:
			if ev.Type == statusapi.EventError {
				tries++
			}
		case <-done.exited:
			t.Fatalf("the daemon exited: %v", done.err)
		case <-deadline.C:
			t.Fatalf("timed out waiting for the tries to open; status %s", statusJSON(d.Status()))
		}
	}
	if h := d.History(); len(h.Errors) != 1 || !strings.Contains(h.Errors[0].Error, "unreachable") {
		t.Fatalf("the status page's errors after several tries to open: %+v, want one", h.Errors)
	}
}

// TestOfflineDaemonHoldsTheLock: while the daemon runs offline (its only
// remote out of reach), it holds the state lock all the same, so a
// command that would write (prune, key rotate, repair, takeover) cannot
// run beside it; and the daemon keeps running and opens the repository
// once the remote is back.
func TestOfflineDaemonHoldsTheLock(t *testing.T) {
	srv := remotetest.StartWebDAV(t, t.TempDir())
	in := newInstallSpec(t, []string{srv.Spec}, "")
	srv.Stop()
	chat := openChat(t, in.src)
	chat.write(t, 10)
	d, done := startOffline(t, in, daemon.Options{Retry: fastRetry})
	waitForOrExit(t, d, done, "the offline state", func(st statusapi.Status) bool { return st.State == "offline" })

	cfg := in.config(t)
	inst, err := instance.Open(context.Background(), cfg, instance.Options{Retry: fastRetry})
	if err == nil {
		inst.Close()
		t.Fatal("a writable open beside the offline daemon succeeded")
	}
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), "daemon running") {
		t.Fatalf("a writable open beside the offline daemon: %v, want %v", err, store.ErrLocked)
	}

	srv.Start()
	waitForOrExit(t, d, done, "the first snapshot once the remote is back", func(st statusapi.Status) bool {
		return st.LastSnapshot != nil && idle(st)
	})
}
