package main

import (
	"os"
	"runtime"
	"strconv"
)

// daemonMaxProcs is how many cores the daemon's Go code runs on at most
// (GOMAXPROCS) unless its environment sets GOMAXPROCS. The store keeps a
// compression encoder, sealing buffers and a file reader per core, so the
// daemon's memory grows with the cores it uses: its first backup of
// BenchmarkDaemonRSS's 10 GB tree peaked at 159 MiB with 2, 183 MiB with 4
// and 253 MiB with 8, and with 8 the 100 MiB limit it then started from
// made the collector run ~350 times instead of ~30 (docs/benchmarks.md, "The
// daemon's peak RSS on a 10 GB tree"). A background service leaves the
// device's other cores to its user; a one-shot command, which the user
// waits for, keeps the runtime's choice.
const daemonMaxProcs = 2

// daemonProcs is the GOMAXPROCS the daemon runs with, given the one the
// runtime chose and the environment's GOMAXPROCS ("" when unset). Only a
// positive number there is the user's choice, as only that is the
// runtime's.
func daemonProcs(current int, env string) int {
	if n, err := strconv.ParseInt(env, 10, 32); err == nil && n > 0 {
		return current // the user's, as the runtime read it
	}
	return min(current, daemonMaxProcs)
}

// capDaemonProcs applies daemonProcs; call it before the store is opened,
// since the store sizes its workers by GOMAXPROCS. It sets the value even
// when it does not change it: a value set stops the runtime from raising
// it later, as it otherwise does when the CPUs it may use grow.
func capDaemonProcs() {
	runtime.GOMAXPROCS(daemonProcs(runtime.GOMAXPROCS(0), os.Getenv("GOMAXPROCS")))
}
