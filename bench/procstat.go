package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procUsage is what /proc says a process has read and spent so far.
type procUsage struct {
	readBytes int64   // bytes fetched from storage (read_bytes)
	rchar     int64   // bytes passed to read calls, from the page cache or not
	cpu       float64 // user + system seconds
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// readProcUsage reads /proc/PID/io and /proc/PID/stat (Linux; elsewhere
// it fails and the figures are left out).
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
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// The command name may hold spaces; the fields after it are fixed.
	i := strings.LastIndexByte(string(stat), ')')
	f := strings.Fields(string(stat)[i+1:])
	if len(f) < 13 {
		return u, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // utime, field 14
	st, _ := strconv.ParseInt(f[12], 10, 64) // stime, field 15
	u.cpu = float64(ut+st) / clockTicks
	return u, nil
}

func (u procUsage) sub(v procUsage) procUsage {
	return procUsage{readBytes: u.readBytes - v.readBytes, rchar: u.rchar - v.rchar, cpu: u.cpu - v.cpu}
}
