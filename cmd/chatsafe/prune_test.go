package main

import (
	"os"
	"path/filepath"
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
	r.want(t, 1, "is the daemon running?")
}
