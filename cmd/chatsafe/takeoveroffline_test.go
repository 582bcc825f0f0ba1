package main

import (
	"path/filepath"
	"testing"
)

// TestTakeoverDiscardOffline: A backs up while the remote is out of
// reach; meanwhile B writes and prunes away the history A's snapshot
// continues. fork resolve and takeover on A refuse to drop that snapshot
// silently, exiting 7 (the take-over family) and saying how to drop it;
// takeover --discard-offline drops it, saying how many went.
func TestTakeoverDiscardOffline(t *testing.T) {
	a, b, srv, _ := twoDevices(t)
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "saved")
	shortRetry(t, a.cfg)
	srv.Stop()
	write(t, a.src, "msgstore.txt", "old phone, offline")
	run(t, a.home, "backup", "--config", a.cfg).want(t, 5, "saved locally")
	srv.Start()
	for _, day := range []string{"new laptop, day 2", "new laptop, day 3"} {
		write(t, b.src, "msgstore.txt", day)
		run(t, b.home, "backup", "--config", b.cfg).want(t, 0, "saved")
	}
	run(t, b.home, "prune", "--config", b.cfg).want(t, 0, "compacted")

	run(t, a.home, "backup", "--config", a.cfg).want(t, 7, "taken over")
	run(t, a.home, "fork", "resolve", "--config", a.cfg, "--keep", "00").want(t, 7, "--discard-offline")
	run(t, a.home, "takeover", "--config", a.cfg).want(t, 7, "takeover would drop 1 snapshot")
	spool := filepath.Join(a.home, "state", "repo-*", "spool", "*")
	if m, _ := filepath.Glob(spool); len(m) != 1 {
		t.Fatalf("the spool after the refusals: %v, want the offline delta", m)
	}
	run(t, a.home, "takeover", "--discard-offline", "--config", a.cfg).want(t, 0, "dropped 1 snapshot")
	if m, _ := filepath.Glob(spool); len(m) != 0 {
		t.Fatalf("the spool after takeover --discard-offline: %v", m)
	}
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "saved")
}
