// Package faults holds named crash points for crash-consistency tests.
// When the environment variable CHATSAFE_CRASH_AT names a point, the
// process kills itself with SIGKILL the moment it reaches that point (a real
// kill -9: no deferred cleanup, no buffered writes flushed). In normal
// operation a point costs one string comparison.
package faults

import (
	"os"
	"strings"
	"syscall"
)

// EnvVar names the crash point(s), comma-separated.
const EnvVar = "CHATSAFE_CRASH_AT"

var points = parse(os.Getenv(EnvVar))

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
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL cannot be caught; never returns
	}
	if Hook != nil {
		return Hook(name)
	}
	return nil
}
