package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDaemonRefusesBusyPrune: a prune.every short enough to make the
// daemon prune, and list every remote, in a loop is a config error (exit
// 2) naming the file, the line and the key, before anything starts.
func TestDaemonRefusesBusyPrune(t *testing.T) {
	s := newSetup(t)
	b, err := os.ReadFile(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "  every: 24h\n", "  every: 10ms\n", 1)
	if cfg == string(b) {
		t.Fatalf("%s does not say prune every: 24h:\n%s", s.cfg, b)
	}
	if err := os.WriteFile(s.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	line := 1 + strings.Count(cfg[:strings.Index(cfg, "  every: 10ms")], "\n")
	// Bounded: a daemon that accepts the config runs until stopped.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	r := runContext(ctx, s.home, "daemon", "--config", s.cfg)
	r.want(t, 2, s.cfg+":"+strconv.Itoa(line)+": prune.every (10ms) must be 0 (no automatic prune) or at least 10m")
}
