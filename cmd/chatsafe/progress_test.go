package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// wantStages fails unless r's stderr has a line "<cmd>: <stage>..." for
// each stage, in order, and its stdout none of them.
func wantStages(t *testing.T, r result, cmd string, stages ...string) {
	t.Helper()
	rest := r.stderr
	for _, s := range stages {
		i := strings.Index(rest, cmd+": "+s)
		if i < 0 {
			t.Fatalf("stderr does not say %q after the stages before it:\n%s", cmd+": "+s, r.stderr)
		}
		rest = rest[i:]
		if strings.Contains(r.stdout, cmd+": "+s) {
			t.Errorf("progress on stdout:\n%s", r.stdout)
		}
	}
}

// TestLongCommandsShowProgress: prune and key rotate say on stderr what
// they are doing, a line per stage when stderr is no terminal; stdout
// keeps the result alone.
func TestLongCommandsShowProgress(t *testing.T) {
	s := rotateSetup(t)
	r := run(t, s.home, "prune", "--config", s.cfg)
	r.want(t, 0, "compacted 3 deltas")
	wantStages(t, r, "prune", "reading", "compacting 3 deltas", "deleting")

	r = run(t, s.home, "key", "rotate", "--config", s.cfg, "--recovery-key-out", filepath.Join(s.home, "new-key.txt"))
	r.want(t, 0, "NEW RECOVERY KEY")
	wantStages(t, r, "key rotate", "re-sealing", "deleting")
}
