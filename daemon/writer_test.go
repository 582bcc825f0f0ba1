package daemon_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/remotes/remotetest"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/store"
)

// joinInstall is a second device on a's remotes: its own source, state and
// socket, and a's key in its key cache (as a join leaves it).
func joinInstall(t *testing.T, a *install) *install {
	t.Helper()
	dir := t.TempDir()
	in := &install{dir: dir, src: filepath.Join(dir, "chats"), state: filepath.Join(dir, "state"),
		cfgPath: filepath.Join(dir, "chatsafe.yaml"), sock: filepath.Join(dir, "run", "chatsafe.sock"), remotes: a.remotes, key: a.key}
	if err := os.MkdirAll(filepath.Join(in.src, "Media"), 0o755); err != nil {
		t.Fatal(err)
	}
	var rs strings.Builder
	for i, s := range a.remotes {
		fmt.Fprintf(&rs, "  - name: r%d\n    url: %q\n", i, s)
	}
	yaml := fmt.Sprintf("source: %s\nstate_dir: %s\nstatus_socket: %s\nremotes:\n%ssync:\n  quiet_period: 150ms\n  max_delay: 1s\n",
		in.src, in.state, in.sock, rs.String())
	if err := os.WriteFile(in.cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := configs.Parse(in.cfgPath, []byte(yaml)); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(in.state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := crypt.WriteKeyCache(instance.KeyCachePath(in.state), a.key); err != nil {
		t.Fatal(err)
	}
	return in
}

// TestTwoDaemonsOneWriter: two daemons on one WebDAV remote. The new
// device takes over; the old one commits nothing more and reports
// taken_over with the other device, and every snapshot either committed
// restores.
func TestTwoDaemonsOneWriter(t *testing.T) {
	srv := remotetest.StartWebDAV(t, t.TempDir())
	a := newInstallSpec(t, []string{srv.Spec}, "")
	chatA := openChat(t, a.src)
	chatA.write(t, 40)
	logA := &syncBuf{}
	da := runInProcessLog(t, a, daemon.Options{}, logA)
	waitFor(t, da, "device A's first snapshot uploaded", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })

	b := joinInstall(t, a)
	chatB := openChat(t, b.src)
	chatB.write(t, 60)
	db := runInProcess(t, b, daemon.Options{})
	stB := waitFor(t, db, "device B's snapshot uploaded", func(st statusapi.Status) bool {
		return st.LastSnapshot != nil && st.LastSnapshot.Seq >= 2 && idle(st)
	})

	chatA.write(t, 5)
	events, cancel := da.Subscribe()
	defer cancel()
	_, err := da.Backup(t.Context(), statusapi.BackupRequest{})
	var te *store.TakenOverError
	if !errors.Is(err, store.ErrTakenOver) || !errors.As(err, &te) {
		t.Fatalf("device A's backup after B wrote: %v, want taken over", err)
	}
	st := waitFor(t, da, "device A taken over", func(st statusapi.Status) bool { return st.State == statusapi.StateTakenOver })
	devB, err := instance.DeviceID(b.state, false)
	if err != nil {
		t.Fatal(err)
	}
	if st.TakenOver == nil || st.TakenOver.Device != fmt.Sprintf("%x", devB) || !strings.Contains(st.LastError, "taken over") {
		t.Fatalf("status of the old device: %+v", st)
	}
	sawEvent := false
	for !sawEvent {
		ev := <-events
		sawEvent = ev.Type == statusapi.EventTakenOver && strings.Contains(ev.Error, "taken over")
	}
	// Still stopped at the next change; B's history is the remote's.
	chatA.write(t, 5)
	if _, err := da.Backup(t.Context(), statusapi.BackupRequest{}); !errors.Is(err, store.ErrTakenOver) {
		t.Fatalf("second backup: %v", err)
	}
	if snaps := da.Snapshots(); len(snaps) != 2 || snaps[1].ID != stB.LastSnapshot.ID {
		t.Fatalf("snapshots seen by A: %+v", snaps)
	}
	// One log line says so (the daemon's error), not one more from the store.
	n := 0
	for _, l := range strings.Split(logA.String(), "\n") {
		if strings.Contains(l, "taken over") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d log lines say \"taken over\", want 1:\n%s", n, logA.String())
	}
	sameTree(t, b.src, restoreFrom(t, srv.Spec, a.key))
}

// TestDaemonReportsFork: a daemon that opens a forked repository reports
// the state forked with both branches, and commits nothing.
func TestDaemonReportsFork(t *testing.T) {
	srv := remotetest.StartWebDAV(t, t.TempDir())
	a := newInstallSpec(t, []string{srv.Spec}, "")
	chatA := openChat(t, a.src)
	chatA.write(t, 20)
	da := runInProcess(t, a, daemon.Options{})
	waitFor(t, da, "device A's first snapshot uploaded", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })
	chatA.write(t, 5)
	backupNow(t, da)
	waitFor(t, da, "device A's second snapshot uploaded", func(st statusapi.Status) bool { return st.LastSnapshot.Seq == 2 && idle(st) })

	// Device B writes its own sequence 2 while A's is hidden.
	rem, err := remotes.Open(t.Context(), srv.Spec, remotes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rem.Close()
	objs, err := rem.List(t.Context(), "deltas")
	if err != nil {
		t.Fatal(err)
	}
	var name string
	for _, o := range objs {
		if strings.HasPrefix(o.Name, "deltas/0000000000000002-") {
			name = o.Name
		}
	}
	rc, err := rem.Get(t.Context(), name, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	hidden, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := rem.Delete(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	b := joinInstall(t, a)
	openChat(t, b.src).write(t, 30)
	bs, err := store.Open(t.Context(), rem, b.key, store.Options{StateDir: b.state})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Run(t.Context(), bs, backup.Options{Source: b.src}); err != nil {
		t.Fatal(err)
	}
	if _, err := bs.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	bs.Close()
	if err := rem.Put(t.Context(), name, bytes.NewReader(hidden), int64(len(hidden))); err != nil {
		t.Fatal(err)
	}

	db := runInProcess(t, b, daemon.Options{})
	st := waitFor(t, db, "device B forked", func(st statusapi.Status) bool { return st.State == statusapi.StateForked })
	if st.Fork == nil || st.Fork.Seq != 2 || len(st.Fork.Branches) != 2 || st.Fork.Branches[0].Delta == st.Fork.Branches[1].Delta {
		t.Fatalf("fork in status: %+v", st.Fork)
	}
	if snaps := db.Snapshots(); len(snaps) != 3 {
		t.Fatalf("snapshots of both branches: %+v", snaps)
	}
	if _, err := db.Backup(t.Context(), statusapi.BackupRequest{}); !errors.Is(err, store.ErrFork) {
		t.Fatalf("backup on a fork: %v, want ErrFork", err)
	}
}
