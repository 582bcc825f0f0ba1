package daemon_test

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/statusapi"
)

// TestRemoteFolderGoneIsNotRecreated: the folder of a second local
// remote goes away while the daemon runs (a USB drive or a NAS share
// unmounted, the folder moved). The next upload must not recreate it
// (a mount point would fill the local disk with deltas and no config):
// the remote shows an error that names it and says what to look at,
// the other remote keeps getting every delta, and once the folder is
// back its uploads resume without a restart.
func TestRemoteFolderGoneIsNotRecreated(t *testing.T) {
	in := newInstall(t, 2)
	chat := openChat(t, in.src)
	chat.write(t, 40)
	d := runInProcess(t, in, daemon.Options{})
	first := waitFor(t, d, "the first snapshot on both remotes", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })

	gone := in.remotes[1]
	away := gone + ".away"
	if err := os.Rename(gone, away); err != nil {
		t.Fatal(err)
	}
	chat.write(t, 10)
	res := backupNow(t, d)
	if res.Snapshot == nil || res.Snapshot.Seq <= first.LastSnapshot.Seq {
		t.Fatalf("the backup with the second remote gone committed nothing: %+v", res)
	}
	// Settled either way: r1 failed, or (the bug) took the delta. The
	// state reads "uploading" during r1's tries; settled, it is derived
	// from the remote lines beside it (TestStatusAgreesWithItself).
	st := waitFor(t, d, "r0 up to date and r1 settled", func(st statusapi.Status) bool {
		if st.LastSnapshot == nil || st.LastSnapshot.Seq != res.Snapshot.Seq || len(st.Remotes) != 2 ||
			st.Remotes[0].Queued != 0 || st.Remotes[1].Uploading {
			return false
		}
		failed := st.Remotes[1].LastError != "" && st.State == statusapi.StateDegraded
		tookIt := st.Remotes[1].Queued == 0 && st.State == statusapi.StateIdle
		return failed || tookIt
	})
	if _, err := os.Stat(gone); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the gone remote's folder was recreated (stat: %v): %v", err, deltasUnder(t, gone))
	}
	r1 := st.Remotes[1]
	if r1.LastError == "" || !strings.Contains(r1.LastError, `"r1"`) || !strings.Contains(r1.LastError, "mounted") {
		t.Errorf("the gone remote's status names no error that says where to look: %+v", r1)
	}
	if r1.Queued == 0 || st.PendingDeltas == 0 || st.State != statusapi.StateDegraded {
		t.Errorf("the status says the gone remote is up to date: %s", statusJSON(st))
	}
	if t.Failed() {
		t.FailNow()
	}
	sameTree(t, in.src, restoreFrom(t, in.remotes[0], in.key))

	// Back: the next upload finds the repository and catches up.
	if err := os.Rename(away, gone); err != nil {
		t.Fatal(err)
	}
	chat.write(t, 5)
	backupNow(t, d)
	st = waitFor(t, d, "r1 to catch up once its folder is back", func(st statusapi.Status) bool { return idle(st) && st.Remotes[1].LastError == "" })
	if n := len(spoolFiles(t, in.state)); n != 0 {
		t.Fatalf("%d deltas still spooled: %s", n, statusJSON(st))
	}
	sameTree(t, in.src, restoreFrom(t, gone, in.key))
}
