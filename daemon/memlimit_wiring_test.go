package daemon_test

import (
	"sync/atomic"
	"testing"

	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/statusapi"
)

// TestFirstCycleHandsTheLimitOver: the daemon calls FirstCycleDone once
// its first cycle commits (cmd/chatsafe stops following the live heap
// there), and never again.
func TestFirstCycleHandsTheLimitOver(t *testing.T) {
	in := newInstall(t, 1)
	var calls atomic.Int32
	d := runInProcess(t, in, daemon.Options{FirstCycleDone: func() { calls.Add(1) }})
	for range 2 {
		if _, err := d.Backup(t.Context(), statusapi.BackupRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("FirstCycleDone called %d times over the daemon's committed cycles, want once", n)
	}
}

// TestDaemonKeepsOneBulkEncoder: the daemon opens its store with one bulk
// encoder state, not one a core (store.Options.OneBulkEncoder, ~10 MB
// less on a 10 GB tree's first backup: docs/benchmarks.md, "Twenty-ninth
// session"); a one-shot command keeps one a core.
func TestDaemonKeepsOneBulkEncoder(t *testing.T) {
	d := runInProcess(t, newInstall(t, 1), daemon.Options{})
	if !d.InstanceOptions().OneBulkEncoder {
		t.Fatal("the daemon opens its installation without OneBulkEncoder")
	}
}
