//go:build !unix

package main

import "os"

// childUsage is where a finished child spent its time (user and system
// seconds); the fault and I/O counts are Unix rusage's.
type childUsage struct {
	User, Sys                         float64
	MajFlt, MinFlt, InBytes, OutBytes int64
}

func usageOf(ps *os.ProcessState) childUsage {
	return childUsage{User: ps.UserTime().Seconds(), Sys: ps.SystemTime().Seconds()}
}
