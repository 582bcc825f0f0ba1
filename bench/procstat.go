package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procUsage is what /proc says a process has read and spent so far.
type procUsage struct {
	readBytes int64   // bytes fetched from storage (read_bytes)
	rchar     int64   // bytes passed to read calls, from the page cache or not
	cpu       float64 // seconds on a CPU, summed over the process's threads
	minflt    int64   // minor page faults (pages mapped without a read)
}

// readProcUsage reads /proc/PID/io and the CPU time of every thread
// (Linux; elsewhere it fails and the figures are left out).
func readProcUsage(pid int) (procUsage, error) {
	var u procUsage
	io, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return u, err
	}
	for _, line := range strings.Split(string(io), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch k {
		case "read_bytes":
			u.readBytes = n
		case "rchar":
			u.rchar = n
		}
	}
	ns, err := threadsCPU(pid)
	if err != nil {
		return u, err
	}
	u.cpu = float64(ns) / 1e9
	if u.minflt, err = minorFaults(pid); err != nil {
		return u, err
	}
	return u, nil
}

// threadsCPU sums the first field of /proc/PID/task/*/schedstat: the
// nanoseconds each thread has run (the scheduler's sum_exec_runtime).
// /proc/PID/schedstat alone is the main thread's, and /proc/PID/stat
// counts in 10 ms ticks, too coarse for a cycle of a few milliseconds. A
// thread that exits between two readings takes its time with it; the Go
// runtime keeps its threads, so this does not happen to the daemon.
func threadsCPU(pid int) (int64, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "schedstat"))
		if err != nil {
			continue // the thread exited meanwhile
		}
		f := strings.Fields(string(b))
		if len(f) < 1 {
			return 0, fmt.Errorf("unexpected %s/%s/schedstat %q", dir, e.Name(), b)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected %s/%s/schedstat %q: %w", dir, e.Name(), b, err)
		}
		total += n
	}
	return total, nil
}

func (u procUsage) sub(v procUsage) procUsage {
	return procUsage{readBytes: u.readBytes - v.readBytes, rchar: u.rchar - v.rchar, cpu: u.cpu - v.cpu, minflt: u.minflt - v.minflt}
}

// minorFaults reads the process's minor faults, the 10th field of
// /proc/PID/stat (counted after the command's closing parenthesis, which
// may itself hold spaces).
func minorFaults(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 8 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat %q", pid, b)
	}
	// After ")": state, ppid, pgrp, session, tty_nr, tpgid, flags, minflt.
	n, err := strconv.ParseInt(f[7], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("unexpected /proc/%d/stat %q: %w", pid, b, err)
	}
	return n, nil
}
