package main

import "testing"

// The daemon runs on at most daemonMaxProcs cores, fewer when the runtime
// gave it fewer (one core, or a container's quota), and on whatever the
// user set with GOMAXPROCS (a positive number, as the runtime reads it).
func TestDaemonProcs(t *testing.T) {
	for _, c := range []struct {
		current int
		env     string
		want    int
	}{
		{16, "", daemonMaxProcs},
		{8, "", daemonMaxProcs},
		{daemonMaxProcs, "", daemonMaxProcs},
		{1, "", 1},
		{16, "16", 16},
		{6, "6", 6},
		{1, "1", 1},
		{16, "0", daemonMaxProcs}, // the runtime ignores these too
		{16, "max", daemonMaxProcs},
		{16, "-3", daemonMaxProcs},
	} {
		if got := daemonProcs(c.current, c.env); got != c.want {
			t.Errorf("daemonProcs(%d, %q) = %d, want %d", c.current, c.env, got, c.want)
		}
	}
}
