package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestBrowseOnDamagedRepository: with the newest delta gone, ls, find,
// dump and diff still read the intact history, and say so as snapshots
// and restore do: a warning naming the damage and exit 9 (partial).
func TestBrowseOnDamagedRepository(t *testing.T) {
	s := newSetup(t)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	os.WriteFile(filepath.Join(s.src, "settings.json"), []byte(`{"a":2}`), 0o644)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	deltas, _ := filepath.Glob(filepath.Join(s.remote, "deltas", "*"))
	if len(deltas) < 2 {
		t.Fatalf("want two deltas, have %v", deltas)
	}
	missing := filepath.Base(deltas[len(deltas)-1])
	os.Remove(deltas[len(deltas)-1])

	run(t, s.home, "ls", "--config", s.cfg).want(t, 9, missing)
	run(t, s.home, "find", "--config", s.cfg, "*.json").want(t, 9, missing)
	r := run(t, s.home, "dump", "--config", s.cfg, "latest", "settings.json")
	r.want(t, 9, missing)
	if r.stdout != `{"a":1}` {
		t.Errorf("dump of the intact snapshot gave %q, want the first version", r.stdout)
	}
	run(t, s.home, "diff", "--config", s.cfg, "latest", "latest").want(t, 9, missing)
}
