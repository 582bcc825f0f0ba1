package daemon_test

import (
	"errors"
	"testing"

	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/store"
)

// TestTakenOverQueuesNothing: a daemon that finds, at its next commit,
// that another device took over learns that device's newest delta from
// its first remote. That delta is on the remotes (the other device put it
// on each), not waiting for an upload from this device: with the spool
// empty, no remote shows it queued.
func TestTakenOverQueuesNothing(t *testing.T) {
	a := newInstall(t, 2)
	chatA := openChat(t, a.src)
	chatA.write(t, 20)
	da := runInProcess(t, a, daemon.Options{})
	waitFor(t, da, "device A's first snapshot uploaded", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })

	b := joinInstall(t, a)
	chatB := openChat(t, b.src)
	chatB.write(t, 20)
	db := runInProcess(t, b, daemon.Options{})
	waitFor(t, db, "device B's snapshot on both remotes", func(st statusapi.Status) bool {
		return st.LastSnapshot != nil && st.LastSnapshot.Seq >= 2 && idle(st)
	})
	stopInProcess(db)

	chatA.write(t, 5)
	if _, err := da.Backup(t.Context(), statusapi.BackupRequest{}); !errors.Is(err, store.ErrTakenOver) {
		t.Fatalf("device A's backup after B wrote: %v, want taken over", err)
	}
	if n := len(spoolFiles(t, a.state)); n != 0 {
		t.Fatalf("device A's spool holds %d files, want none", n)
	}
	waitFor(t, da, "every remote of the taken-over device with nothing queued", func(st statusapi.Status) bool {
		if st.State != statusapi.StateTakenOver || st.PendingDeltas != 0 || len(st.Remotes) != 2 {
			return false
		}
		for _, r := range st.Remotes {
			if r.Queued != 0 {
				return false
			}
		}
		return true
	})
}
