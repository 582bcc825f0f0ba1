package daemon_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/instance"
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
	da := runInProcess(t, a, daemon.Options{})
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
	sameTree(t, b.src, restoreFrom(t, srv.Spec, a.key))
}
