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
