package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRolledBackHeadOfOtherDeviceIsReported: the first remote loses the
// newest delta, which another device committed (the vault records it). The
// old device, which wrote before, still reports the rollback (check exits 6,
// restore warns and exits 9), as any other device does, and its backup is
// a take-over naming the other device (exit 7).
func TestRolledBackHeadOfOtherDeviceIsReported(t *testing.T) {
	a, rems, vaultArgs := vaultDevice(t, "first")
	first := rems[0]

	b := newDevice(t, map[string]string{"chat.db": "new"})
	run(t, b.home, append([]string{"init", "--join", "--source", b.src, "--remote", first, "--config", b.cfg, "--state-dir", b.state}, vaultArgs...)...).want(t, 0, "newest sequence 1")
	run(t, b.home, "backup", "--config", b.cfg).want(t, 0, "saved")

	// The cloud hides B's delta (sequence 2).
	m, _ := filepath.Glob(filepath.Join(first, "deltas", "0000000000000002-*"))
	if len(m) != 1 {
		t.Fatalf("seq 2: %v", m)
	}
	os.Remove(m[0])

	run(t, a.home, "check", "--config", a.cfg).want(t, 6, "")
	r := run(t, a.home, "restore", "--config", a.cfg, "--to", filepath.Join(a.home, "restored"))
	r.want(t, 9, "WARNING")
	writeFiles(t, a.src, map[string]string{"chat.db": "old, day 2"})
	bk := run(t, a.home, "backup", "--config", a.cfg)
	wantTakenOverBy(t, bk, b)
	// The rollback evidence stays after the take-over is recorded.
	run(t, a.home, "check", "--config", a.cfg).want(t, 6, "")
}
