package daemon_test

import (
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/faults"
	"github.com/chatsafe/chatsafe/statusapi"
)

// agrees reports whether st's state is what its own remote lines and
// error say: "idle" beside a remote that uploads or failed, "error"
// without its last_error, or "degraded" with no remote failing, is a
// status that disagrees with itself. (The
// states before these in the order of state(), scanning and the like,
// say nothing of the remote lines.)
func agrees(st statusapi.Status) bool {
	uploading, failing := false, false
	for _, r := range st.Remotes {
		uploading = uploading || r.Uploading
		failing = failing || r.LastError != ""
	}
	switch st.State {
	case statusapi.StateIdle:
		return !uploading && !failing && st.LastError == ""
	case statusapi.StateError:
		return !uploading && st.LastError != ""
	case statusapi.StateDegraded:
		return !uploading && failing && st.LastError == ""
	}
	return true
}

// TestStatusAgreesWithItself: a status is one reading, whatever the
// uploaders do while it is read. The faults point status:remote-lines
// holds a status call, before it reads the remote lines, until a remote
// has failed (its folder gone, as in TestRemoteFolderGoneIsNotRecreated):
// the state the status shows must agree with the lines it shows.
func TestStatusAgreesWithItself(t *testing.T) {
	in := newInstall(t, 2)
	chat := openChat(t, in.src)
	chat.write(t, 10)
	// Set before the daemon runs and cleared after it stopped (cleanups
	// run last first): its goroutines reach other points.
	var armed, failed atomic.Bool
	var fail func()
	faults.Hook = func(p string) error {
		if p == "status:remote-lines" && armed.CompareAndSwap(true, false) {
			fail()
			failed.Store(true)
		}
		return nil
	}
	t.Cleanup(func() { faults.Hook = nil })
	d := runInProcess(t, in, daemon.Options{})
	waitFor(t, d, "the first snapshot on both remotes", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })

	// r1 fails the upload of a new snapshot: its error event follows the
	// error its line shows.
	fail = func() {
		ch, cancel := d.Subscribe()
		defer cancel()
		if err := os.Rename(in.remotes[1], in.remotes[1]+".away"); err != nil {
			t.Fatal(err)
		}
		chat.write(t, 5)
		backupNow(t, d)
		deadline := time.NewTimer(60 * time.Second)
		defer deadline.Stop()
		for {
			select {
			case ev := <-ch:
				if ev.Type == statusapi.EventError && ev.Remote == "r1" {
					return
				}
			case <-deadline.C:
				t.Fatalf("r1 did not fail with its folder gone; status %s", statusJSON(d.Status()))
			}
		}
	}
	armed.Store(true)
	st := d.Status()
	if !failed.Load() {
		t.Fatal("the status never reached the point status:remote-lines")
	}
	if len(st.Remotes) != 2 || st.Remotes[1].LastError == "" {
		t.Fatalf("r1's line does not show the error it failed with before the lines were read: %s", statusJSON(st))
	}
	if !agrees(st) {
		t.Fatalf("the state %q disagrees with the remote lines of the same status: %s", st.State, statusJSON(st))
	}
}
