package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/instance"
)

// holdState opens the installation at cfgPath for writing and keeps it
// open until the test ends, as a running daemon does (its state lock).
func holdState(t *testing.T, cfgPath string) {
	t.Helper()
	cfg, err := configs.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := instance.Open(t.Context(), cfg, instance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
}

// TestPruneDryRunBesideDaemon: a dry run writes nothing, so it runs while
// the daemon holds the state directory; a real prune still refuses.
func TestPruneDryRunBesideDaemon(t *testing.T) {
	s := newSetup(t)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	os.WriteFile(filepath.Join(s.src, "settings.json"), []byte(`{"a":2}`), 0o644)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	holdState(t, s.cfg)

	run(t, s.home, "prune", "--config", s.cfg, "--dry-run").want(t, 0, "would forget 0 of 2 snapshots")
	r := run(t, s.home, "prune", "--config", s.cfg)
	r.want(t, exitStateInUse, "is the daemon running?")
}

// TestPruneDryRunRefusesDamage: with a middle delta gone from the remote,
// a real prune refuses (exit 6: nothing is committed, compacted or
// deleted on a damaged repository), and a dry run must say the same, not
// what it would compact.
func TestPruneDryRunRefusesDamage(t *testing.T) {
	s := newSetup(t)
	for i := range 5 {
		os.WriteFile(filepath.Join(s.src, "settings.json"), []byte(fmt.Sprintf(`{"a":%d}`, i+2)), 0o644)
		run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	}
	d := deltaPaths(t, s.remote)
	if err := os.Rename(d[2], filepath.Join(s.home, filepath.Base(d[2]))); err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(d[2])

	dry := run(t, s.home, "prune", "--config", s.cfg, "--dry-run")
	real := run(t, s.home, "prune", "--config", s.cfg)
	real.want(t, 6, name)
	dry.want(t, real.code, name)
	if strings.Contains(dry.stdout, "would") {
		t.Fatalf("the refused dry run still says what it would do: %s", dry.stdout)
	}
	if n := len(deltaPaths(t, s.remote)); n != len(d)-1 {
		t.Fatalf("%d deltas on the remote after the refused prunes, want %d", n, len(d)-1)
	}
}
