// Package faults holds named crash points for crash-consistency tests.
//
// In a binary built with the build tag chatsafe_testhooks, when the
// environment variable CHATSAFE_CRASH_AT names a point, the process kills
// itself the moment it reaches that point (os.Process.Kill: SIGKILL on
// Unix, TerminateProcess on Windows; no deferred cleanup, no buffered writes
// flushed). Every other build ignores the variable, so a stray environment
// cannot crash a user's daemon. In normal operation a point costs one map
// lookup on a nil map.
//
// Hook serves in-process tests in every build.
package faults

import (
	"os"
	"strings"
)

// EnvVar names the crash point(s), comma-separated; honoured only with the
// build tag chatsafe_testhooks.
const EnvVar = "CHATSAFE_CRASH_AT"

// points are the armed crash points: read from EnvVar by the
// chatsafe_testhooks build, nil otherwise (see armed).
var points = armed()

func parse(v string) map[string]bool {
	if v == "" {
		return nil
	}
	m := map[string]bool{}
	for _, p := range strings.Split(v, ",") {
		m[strings.TrimSpace(p)] = true
	}
	return m
}

// Hook, when set (by tests in the same process), is called at every point;
// an error it returns is returned by Point, simulating a crash there for
// code paths that stop at the first error.
var Hook func(point string) error

// Point marks a crash point.
func Point(name string) error {
	if points[name] {
		crash()
	}
	if Hook != nil {
		return Hook(name)
	}
	return nil
}

// crash kills this process the way kill -9 would and never returns.
func crash() {
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		_ = p.Kill()
	}
	select {} // the kill cannot be caught; wait for it
}
