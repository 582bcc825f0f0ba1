package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/remotes/remotetest"
	"github.com/chatsafe/chatsafe/statusapi"
)

// TestSecondRemoteDownStateSaysWhy: the first remote a local path, the
// second a WebDAV server that stops. Cycles still commit and reach the
// first remote; the status must not read "error" with no error to show
// (README: "error" is a failed cycle, with last_error), and the second
// remote's own line carries its error.
func TestSecondRemoteDownStateSaysWhy(t *testing.T) {
	srv := remotetest.StartWebDAV(t, t.TempDir())
	in := newInstallSpec(t, []string{filepath.Join(t.TempDir(), "local"), srv.Spec}, "")
	chat := openChat(t, in.src)
	chat.write(t, 20)
	d := runInProcess(t, in, daemon.Options{Retry: fastRetry})
	first := waitFor(t, d, "the first snapshot on both remotes", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })

	srv.Stop()
	chat.write(t, 5)
	res := backupNow(t, d)
	if res.Snapshot == nil || res.Snapshot.Seq <= first.LastSnapshot.Seq {
		t.Fatalf("the backup with the second remote down committed nothing: %+v", res)
	}
	st := waitFor(t, d, "r0 current and r1 failed", func(st statusapi.Status) bool {
		return len(st.Remotes) == 2 && st.Remotes[0].Queued == 0 && !st.Remotes[0].Uploading &&
			st.Remotes[1].LastError != "" && !st.Remotes[1].Uploading && st.State != statusapi.StateScanning
	})
	if st.State == statusapi.StateError && st.LastError == "" {
		t.Fatalf("state %q with no last_error while every cycle commits: %s", st.State, statusJSON(st))
	}
	if st.State != statusapi.StateDegraded {
		t.Fatalf("state %q while a remote fails and cycles commit, want %q: %s", st.State, statusapi.StateDegraded, statusJSON(st))
	}
	if st.Remotes[0].LastError != "" || st.LastError != "" {
		t.Fatalf("the down second remote's error shows beside the first remote or the cycle: %s", statusJSON(st))
	}
}

// TestFirstRemoteGoneSecondRowOwnErrors: the first remote's folder goes
// away and comes back. The second remote's line must show only its own
// errors: never the first remote's, and none once the first is back.
func TestFirstRemoteGoneSecondRowOwnErrors(t *testing.T) {
	in := newInstall(t, 2)
	chat := openChat(t, in.src)
	chat.write(t, 20)
	d := runInProcess(t, in, daemon.Options{Retry: fastRetry})
	waitFor(t, d, "the first snapshot on both remotes", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })

	away := in.remotes[0] + ".away"
	if err := os.Rename(in.remotes[0], away); err != nil {
		t.Fatal(err)
	}
	chat.write(t, 5)
	_, _ = d.Backup(t.Context(), statusapi.BackupRequest{}) // fails or commits offline: either way r0 is the one at fault
	sawR0OnR1 := ""
	watch := func(st statusapi.Status) {
		if len(st.Remotes) == 2 && strings.Contains(st.Remotes[1].LastError, `"r0"`) && sawR0OnR1 == "" {
			sawR0OnR1 = st.Remotes[1].LastError
		}
	}
	waitFor(t, d, "r0's absence to be seen", func(st statusapi.Status) bool {
		watch(st)
		return (st.LastError != "" || st.Remotes[0].LastError != "") && !st.Remotes[1].Uploading && st.State != statusapi.StateScanning
	})
	if err := os.Rename(away, in.remotes[0]); err != nil {
		t.Fatal(err)
	}
	chat.write(t, 5)
	backupNow(t, d)
	st := waitFor(t, d, "r0 back and current", func(st statusapi.Status) bool {
		watch(st)
		return st.LastError == "" && st.Remotes[0].LastError == "" && st.Remotes[0].Queued == 0 && !st.Remotes[0].Uploading
	})
	if sawR0OnR1 != "" {
		t.Errorf("r1's line showed r0's error: %q", sawR0OnR1)
	}
	if st.Remotes[1].LastError != "" {
		t.Errorf("r1's line keeps an error once r0 is back: %s", statusJSON(st))
	}
}

// TestSecondRemoteDownDoesNotDelayCommit: with the second remote down
// (connections refused, retried with the daemon's default backoff), a
// commit does not wait for that remote's listing.
func TestSecondRemoteDownDoesNotDelayCommit(t *testing.T) {
	srv := remotetest.StartWebDAV(t, t.TempDir())
	in := newInstallSpec(t, []string{filepath.Join(t.TempDir(), "local"), srv.Spec}, "")
	chat := openChat(t, in.src)
	chat.write(t, 20)
	d := runInProcess(t, in, daemon.Options{})
	first := waitFor(t, d, "the first snapshot on both remotes", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })

	srv.Stop()
	chat.write(t, 5)
	start := time.Now()
	res := backupNow(t, d)
	took := time.Since(start)
	t.Logf("the commit with the second remote down took %s", took)
	if res.Snapshot == nil || res.Snapshot.Seq <= first.LastSnapshot.Seq {
		t.Fatalf("the backup with the second remote down committed nothing: %+v", res)
	}
	if took > 15*time.Second { // the check is bounded to 5 s; it was 30 s
		t.Fatalf("a commit with the second remote down took %s", took)
	}
}
