package main

import (
	"strings"
	"testing"
)

// TestForkWarnedOnce: in a forked history, each command warns of the
// fork once; check, which re-reads the remote it opened, said it twice.
func TestForkWarnedOnce(t *testing.T) {
	a, b, srv, _ := twoDevices(t)
	forkOnPurpose(t, a, b, srv)

	for _, args := range [][]string{{"check"}, {"backup"}, {"prune"}} {
		r := run(t, a.home, append(args, "--config", a.cfg)...)
		r.want(t, exitIntegrity, "forked")
		saidOnce(t, r, strings.ToLower("nothing is deleted until "+cmdOf(a.cfg, "fork resolve"))) // saidOnce compares lower case
	}
}
