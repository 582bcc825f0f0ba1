package daemon_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/logs"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/statusapi"
)

// runInProcess starts a daemon in this process; it stops with the test.
func runInProcess(t testing.TB, in *install, opts daemon.Options) *daemon.Daemon {
	t.Helper()
	return runInProcessLog(t, in, opts, io.Discard)
}

// runInProcessLog is runInProcess with the daemon's log (info and up,
// JSON lines) written to out.
func runInProcessLog(t testing.TB, in *install, opts daemon.Options, out io.Writer) *daemon.Daemon {
	t.Helper()
	level := "warn"
	if out != io.Discard {
		level = "info"
	}
	return runInProcessLevel(t, in, opts, out, level)
}

// runInProcessLevel is runInProcessLog at the given log level.
func runInProcessLevel(t testing.TB, in *install, opts daemon.Options, out io.Writer, level string) *daemon.Daemon {
	t.Helper()
	cfg := in.config(t)
	l, err := logs.New(logs.Options{Level: level, Format: "json", Out: out})
	if err != nil {
		t.Fatal(err)
	}
	opts.Config, opts.Log, opts.Version = cfg, l, "test"
	d, err := daemon.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	stopFns.Store(d, stop)
	return d
}

// stopFns holds each in-process daemon's stop function.
var stopFns sync.Map

// stopInProcess stops an in-process daemon before the test ends and
// waits for Run to return.
func stopInProcess(d *daemon.Daemon) {
	if f, ok := stopFns.LoadAndDelete(d); ok {
		f.(func())()
	}
}

// waitFor re-checks the daemon's status after each of its events.
func waitFor(t testing.TB, d *daemon.Daemon, what string, ok func(statusapi.Status) bool) statusapi.Status {
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
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; status %s", what, statusJSON(d.Status()))
		}
	}
}

// atRest returns the daemon's status and what look returned, both taken
// while no backup cycle ran. The watcher and the retry timer start cycles
// by themselves; a status or a look at the spool taken during one shows
// that cycle's work in progress, not what the last one left. A cycle
// publishes the scanning state before it reads or writes anything, so a
// look with no such event between the status and its end saw no cycle.
func atRest[T any](t testing.TB, d *daemon.Daemon, look func() T) (statusapi.Status, T) {
	t.Helper()
	for {
		ch, cancel := d.Subscribe()
		st := waitFor(t, d, "no backup cycle running", func(st statusapi.Status) bool { return st.State != statusapi.StateScanning })
		v := look()
		// A full channel may have dropped the event that matters.
		quiet := len(ch) < cap(ch)
		for quiet && len(ch) > 0 {
			if ev := <-ch; ev.Type == statusapi.EventState && ev.State == statusapi.StateScanning {
				quiet = false
			}
		}
		cancel()
		if quiet {
			return st, v
		}
	}
}

// TestRemoteDownDoesNotBlockOthers: with one remote down, the other gets
// every delta, the spool keeps them, and the down remote catches up when
// it is back.
func TestRemoteDownDoesNotBlockOthers(t *testing.T) {
	in := newInstall(t, 2)
	chat := openChat(t, in.src)
	chat.write(t, 50)
	var down atomic.Bool
	down.Store(true)
	d := runInProcess(t, in, daemon.Options{WrapUpload: func(r remotes.Remote) remotes.Remote {
		if r.String() != "r1" {
			return r
		}
		return remotes.Faulty(r, remotes.FaultOptions{Down: down.Load})
	}})
	st := waitFor(t, d, "r0 up to date while r1 fails", func(st statusapi.Status) bool {
		return st.LastSnapshot != nil && len(st.Remotes) == 2 && st.Remotes[0].Queued == 0 && st.Remotes[0].LastUpload != nil &&
			st.Remotes[1].LastError != "" && st.State == statusapi.StateDegraded
	})
	if st.PendingDeltas == 0 || st.Remotes[1].Queued == 0 || len(spoolFiles(t, in.state)) == 0 {
		t.Fatalf("a delta left the spool before every remote had it: %+v", st)
	}
	sameTree(t, in.src, restoreFrom(t, in.remotes[0], in.key))

	down.Store(false)
	chat.write(t, 5)
	if _, err := d.Backup(t.Context(), statusapi.BackupRequest{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, d, "r1 to catch up", idle)
	if n := len(spoolFiles(t, in.state)); n != 0 {
		t.Fatalf("%d deltas still spooled", n)
	}
	sameTree(t, in.src, restoreFrom(t, in.remotes[1], in.key))
}

// TestReloadBackfillsNewRemote: a remote added by a reload receives every
// live delta, copied from the remote that has them.
func TestReloadBackfillsNewRemote(t *testing.T) {
	in := newInstall(t, 1)
	chat := openChat(t, in.src)
	chat.write(t, 30)
	os.WriteFile(filepath.Join(in.src, "Media", "x.jpg"), []byte("photo"), 0o644)
	added := filepath.Join(in.dir, "added")
	var reloaded atomic.Bool
	d := runInProcess(t, in, daemon.Options{Reload: func() (*configs.Config, error) {
		cfg, err := configs.Load(in.cfgPath)
		if err != nil {
			return nil, err
		}
		cfg.Remotes = append(cfg.Remotes, configs.Remote{Name: "added", URL: added})
		reloaded.Store(true)
		return cfg, nil
	}})
	first := waitFor(t, d, "the first snapshot", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })
	chat.write(t, 3)
	if _, err := d.Backup(t.Context(), statusapi.BackupRequest{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, d, "the second snapshot", func(st statusapi.Status) bool { return st.LastSnapshot.Seq > first.LastSnapshot.Seq && idle(st) })
	d.Reload()
	st := waitFor(t, d, "the added remote to be back-filled", func(st statusapi.Status) bool {
		return len(st.Remotes) == 2 && st.Remotes[1].LastUpload != nil && idle(st)
	})
	if !reloaded.Load() || st.Remotes[1].Name != "added" {
		t.Fatalf("status after reload: %+v", st)
	}
	if a, b := deltaSeqs(t, in.remotes[0]), deltaSeqs(t, added); fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("added remote holds %v, want %v", b, a)
	}
	sameTree(t, in.src, restoreFrom(t, added, in.key))
}

// BenchmarkCommitToSnapshot measures how long after a change the daemon
// has committed it (snapshot) and uploaded it (idle, spool empty), with a
// 100 ms quiet period and a local remote.
func BenchmarkCommitToSnapshot(b *testing.B) {
	in := newInstall(b, 1)
	chat := openChat(b, in.src)
	chat.write(b, 1000)
	d := runInProcess(b, in, daemon.Options{})
	waitFor(b, d, "the first snapshot", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })
	quiet := 150 * time.Millisecond // the install's sync.quiet_period
	var toSnap, toUpload time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ch, cancel := d.Subscribe()
		start := time.Now()
		chat.write(b, 1)
		var snapAt time.Time
		for snapAt.IsZero() {
			if ev := <-ch; ev.Type == statusapi.EventSnapshot {
				snapAt = time.Now()
			}
		}
		cancel()
		waitFor(b, d, "upload", idle)
		toSnap += snapAt.Sub(start)
		toUpload += time.Since(start)
	}
	b.ReportMetric(float64(toSnap.Milliseconds())/float64(b.N), "ms-to-snapshot")
	b.ReportMetric(float64((toSnap-time.Duration(b.N)*quiet).Milliseconds())/float64(b.N), "ms-over-quiet")
	b.ReportMetric(float64(toUpload.Milliseconds())/float64(b.N), "ms-to-uploaded")
}
