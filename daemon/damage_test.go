package daemon_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/remotes/remotetest"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/store"
)

// TestDaemonNewestDeltaDeletedWhileRunning: the newest delta vanishes
// from a WebDAV remote while the daemon runs. The daemon commits nothing
// on it and reports the state damaged (with an event naming the delta),
// keeps serving status (also restarted), the older snapshot restores,
// `repair` makes the repository writable, and the restarted daemon's next
// cycle commits.
func TestDaemonNewestDeltaDeletedWhileRunning(t *testing.T) {
	srv := remotetest.StartWebDAV(t, t.TempDir())
	a := newInstallSpec(t, []string{srv.Spec}, "")
	chat := openChat(t, a.src)
	chat.write(t, 20)
	d := runInProcess(t, a, daemon.Options{})
	waitFor(t, d, "the first snapshot uploaded", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })
	first := restoreFrom(t, srv.Spec, a.key)
	chat.write(t, 5)
	backupNow(t, d)
	waitFor(t, d, "the second snapshot uploaded", func(st statusapi.Status) bool { return st.LastSnapshot.Seq == 2 && idle(st) })

	rem, err := remotes.Open(t.Context(), srv.Spec, remotes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rem.Close()
	newest := deltaNamed(t, rem, "deltas/0000000000000002-")
	if err := rem.Delete(t.Context(), newest); err != nil {
		t.Fatal(err)
	}
	events, cancel := d.Subscribe()
	defer cancel()
	chat.write(t, 5)
	_, err = d.Backup(t.Context(), statusapi.BackupRequest{})
	var de *store.DamageError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), newest) {
		t.Fatalf("backup after the newest delta vanished: %v, want a damage error naming %s", err, newest)
	}
	st := waitFor(t, d, "state damaged", func(st statusapi.Status) bool { return st.State == statusapi.StateDamaged })
	if len(st.Damage) == 0 || !strings.Contains(st.Damage[0], newest) || !strings.Contains(st.LastError, newest) {
		t.Fatalf("status of a damaged repository: %+v", st)
	}
	for sawEvent := false; !sawEvent; {
		ev := <-events
		sawEvent = ev.Type == statusapi.EventDamaged && strings.Contains(ev.Error, newest)
	}
	// Still refused at the next change, and nothing reached the remote.
	chat.write(t, 5)
	if _, err := d.Backup(t.Context(), statusapi.BackupRequest{}); !errors.As(err, &de) {
		t.Fatalf("second backup on a damaged head: %v", err)
	}
	if n := deltaCount(t, rem); n != 1 {
		t.Fatalf("%d deltas on the remote, want 1: the daemon committed on a missing head", n)
	}
	sameTree(t, first, restoreFrom(t, srv.Spec, a.key))

	stopInProcess(d)
	// Restarted, it starts (no exit 6), serves status, and stays stopped.
	d = runInProcess(t, a, daemon.Options{})
	st = waitFor(t, d, "the restarted daemon reports damage", func(st statusapi.Status) bool { return st.State == statusapi.StateDamaged })
	if len(st.Damage) == 0 || !strings.Contains(st.Damage[0], newest) {
		t.Fatalf("status after a restart: %+v", st)
	}
	if _, err := d.Backup(t.Context(), statusapi.BackupRequest{}); !errors.As(err, &de) || !errors.Is(err, store.ErrRollback) {
		t.Fatalf("backup after a restart: %v, want a damage error (a rollback)", err)
	}
	stopInProcess(d)
	cfg, err := configs.Load(a.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := instance.Open(t.Context(), cfg, instance.Options{})
	if err != nil {
		t.Fatalf("opening the damaged repository: %v", err)
	}
	plan, err := inst.Store.Repair(t.Context(), false)
	if err != nil || plan.Intact() {
		t.Fatalf("repair: %+v, %v", plan, err)
	}
	if _, err := inst.Store.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	inst.Close()

	d = runInProcess(t, a, daemon.Options{})
	res := backupNow(t, d)
	st = waitFor(t, d, "the repaired repository's snapshot uploaded", func(st statusapi.Status) bool { return idle(st) && st.PendingDeltas == 0 })
	if st.State == statusapi.StateDamaged || st.Damage != nil || res.Snapshot == nil || st.LastSnapshot.Seq != plan.NewSeq+1 {
		t.Fatalf("after repair: %+v (backup %+v), want a snapshot at sequence %d", st, res, plan.NewSeq+1)
	}
	sameTree(t, a.src, restoreFrom(t, srv.Spec, a.key))
}

func deltaNamed(t *testing.T, rem remotes.Remote, prefix string) string {
	t.Helper()
	objs, err := rem.List(t.Context(), "deltas")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if strings.HasPrefix(o.Name, prefix) {
			return o.Name
		}
	}
	t.Fatalf("no delta %s on the remote", prefix)
	return ""
}

func deltaCount(t *testing.T, rem remotes.Remote) int {
	t.Helper()
	objs, err := rem.List(t.Context(), "deltas")
	if err != nil {
		t.Fatal(err)
	}
	return len(objs)
}
