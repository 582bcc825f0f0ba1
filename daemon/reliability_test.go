package daemon_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/remotes/remotetest"
	"github.com/chatsafe/chatsafe/statusapi"
)

// fastRetry keeps a stopped server from costing the default retries
// (about 13 s per call) in every test.
var fastRetry = remotes.RetryOptions{Attempts: 2, Initial: 10 * time.Millisecond, Max: 20 * time.Millisecond}

// newInstallSpec is newInstall with the given remote specs (r0, r1, ...)
// and extra top-level YAML.
func newInstallSpec(t testing.TB, specs []string, extra string) *install {
	t.Helper()
	return newInstallOn(t, specs, extra, "")
}

// newInstallOn is newInstallSpec with the state directory at state ("":
// in the install's directory).
func newInstallOn(t testing.TB, specs []string, extra, state string) *install {
	t.Helper()
	dir := t.TempDir()
	if state == "" {
		state = filepath.Join(dir, "state")
	}
	in := &install{dir: dir, src: filepath.Join(dir, "chats"), state: state,
		cfgPath: filepath.Join(dir, "chatsafe.yaml"), sock: filepath.Join(dir, "run", "chatsafe.sock"), remotes: specs}
	if err := os.MkdirAll(filepath.Join(in.src, "Media"), 0o755); err != nil {
		t.Fatal(err)
	}
	var rs strings.Builder
	for i, s := range specs {
		fmt.Fprintf(&rs, "  - name: r%d\n    url: %q\n", i, s)
	}
	yaml := fmt.Sprintf("source: %s\nstate_dir: %s\nstatus_socket: %s\nremotes:\n%ssync:\n  quiet_period: 150ms\n  max_delay: 1s\nlog:\n  level: debug\n  format: json\n%s",
		in.src, in.state, in.sock, rs.String(), extra)
	if err := os.WriteFile(in.cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Parse(in.cfgPath, []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if in.key, err = crypt.NewKey(); err != nil {
		t.Fatal(err)
	}
	if err := instance.Create(context.Background(), cfg, in.cfgPath, in.key, nil); err != nil {
		t.Fatal(err)
	}
	return in
}

// waitUntil re-checks ok after each of the daemon's events.
func waitUntil(t testing.TB, d *daemon.Daemon, what string, ok func() bool) {
	t.Helper()
	ch, cancel := d.Subscribe()
	defer cancel()
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for !ok() {
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; status %+v, last prune %+v", what, d.Status(), d.LastPrune())
		}
	}
}

// backupNow runs a cycle through the daemon, as `chatsafe backup` does.
func backupNow(t testing.TB, d *daemon.Daemon) statusapi.BackupResult {
	t.Helper()
	res, err := d.Backup(context.Background(), statusapi.BackupRequest{})
	if err != nil {
		t.Fatalf("backup through the daemon: %v", err)
	}
	return res
}

// stopOnPut stops a network server when the first delta upload starts,
// once armed: the server goes away in the middle of a backup's upload.
type stopOnPut struct {
	remotes.Remote
	srv   *remotetest.Server
	armed *atomic.Bool
}

func (s *stopOnPut) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if strings.HasPrefix(name, "deltas/") && s.armed.CompareAndSwap(true, false) {
		s.srv.Stop()
	}
	return s.Remote.Put(ctx, name, r, size)
}

// TestNetworkRemoteStoppedDuringBackup: a WebDAV remote stops while a
// backup is being uploaded to it. The other remote stays current; the
// change made meanwhile waits in the spool, and once the server is back
// it is on the WebDAV remote after the next cycle, which restores to the
// directory.
func TestNetworkRemoteStoppedDuringBackup(t *testing.T) {
	srv := remotetest.StartWebDAV(t, t.TempDir())
	in := newInstallSpec(t, []string{filepath.Join(t.TempDir(), "local"), srv.Spec}, "")
	chat := openChat(t, in.src)
	chat.write(t, 50)
	var armed atomic.Bool
	d := runInProcess(t, in, daemon.Options{Retry: fastRetry, WrapUpload: func(r remotes.Remote) remotes.Remote {
		if r.String() != "r1" {
			return r
		}
		return &stopOnPut{Remote: r, srv: srv, armed: &armed}
	}})
	first := waitFor(t, d, "the first snapshot on both remotes", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })

	armed.Store(true)
	chat.write(t, 30)
	if err := os.WriteFile(filepath.Join(in.src, "Media", "IMG-outage.jpg"), bytes.Repeat([]byte("jpeg"), 30000), 0o644); err != nil {
		t.Fatal(err)
	}
	res := backupNow(t, d)
	if res.Snapshot == nil || res.Snapshot.Seq <= first.LastSnapshot.Seq {
		t.Fatalf("the change was not committed: %+v", res)
	}
	st := waitFor(t, d, "r0 current while r1's server is down", func(st statusapi.Status) bool {
		return len(st.Remotes) == 2 && st.Remotes[0].Queued == 0 && !st.Remotes[0].Uploading && st.Remotes[1].LastError != "" && !st.Remotes[1].Uploading
	})
	if srv.Running() || armed.Load() {
		t.Fatal("the server was not stopped by the upload")
	}
	if st.State != statusapi.StateDegraded || st.PendingDeltas == 0 || st.Remotes[1].Queued == 0 {
		t.Fatalf("status with r1 down: %+v", st)
	}
	sameTree(t, in.src, restoreFrom(t, in.remotes[0], in.key))

	srv.Start()
	chat.write(t, 5)
	backupNow(t, d)
	waitFor(t, d, "r1 to catch up after the next cycle", idle)
	if n := len(spoolFiles(t, in.state)); n != 0 {
		t.Fatalf("%d deltas still spooled", n)
	}
	if a, b := deltaSeqs(t, in.remotes[0]), deltaSeqs(t, srv.ObjectsDir()); fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("WebDAV remote holds %v, want %v", b, a)
	}
	sameTree(t, in.src, restoreFrom(t, srv.Spec, in.key))
}

// TestNetworkRemoteDownAtStart: two remotes, the WebDAV one down when the
// daemon starts. The daemon starts anyway, the local remote is current,
// and the WebDAV one catches up once its server is up.
func TestNetworkRemoteDownAtStart(t *testing.T) {
	srv := remotetest.StartWebDAV(t, t.TempDir())
	in := newInstallSpec(t, []string{filepath.Join(t.TempDir(), "local"), srv.Spec}, "")
	srv.Stop()
	chat := openChat(t, in.src)
	chat.write(t, 40)
	d := runInProcess(t, in, daemon.Options{Retry: fastRetry})
	st := waitFor(t, d, "r0 current while r1 is down", func(st statusapi.Status) bool {
		return st.LastSnapshot != nil && len(st.Remotes) == 2 && st.Remotes[0].Queued == 0 && st.Remotes[0].LastUpload != nil &&
			st.Remotes[1].LastError != "" && !st.Remotes[1].Uploading
	})
	if st.PendingDeltas == 0 || len(spoolFiles(t, in.state)) == 0 {
		t.Fatalf("a delta left the spool before every remote had it: %+v", st)
	}
	sameTree(t, in.src, restoreFrom(t, in.remotes[0], in.key))

	srv.Start()
	chat.write(t, 5)
	backupNow(t, d)
	waitFor(t, d, "r1 to catch up", idle)
	sameTree(t, in.src, restoreFrom(t, srv.Spec, in.key))
}

// waitCh waits for ch to close, for at most a minute.
func waitCh(t testing.TB, ch <-chan struct{}, what string, log fmt.Stringer) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(60 * time.Second):
		t.Fatalf("timed out waiting for %s; log:\n%s", what, log)
	}
}
