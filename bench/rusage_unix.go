//go:build unix

package main

import (
	"os"
	"syscall"
)

// childUsage is where a finished child spent its time and what it
// faulted in and read from storage, from its rusage.
type childUsage struct {
	User, Sys float64 // seconds
	MajFlt    int64   // page faults that read from storage
	MinFlt    int64   // page faults served from memory (first touches among them)
	InBytes   int64   // bytes read from storage (ru_inblock, 512-byte blocks)
	OutBytes  int64   // bytes written to storage (ru_oublock)
}

func usageOf(ps *os.ProcessState) childUsage {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return childUsage{}
	}
	return childUsage{
		User:     ps.UserTime().Seconds(),
		Sys:      ps.SystemTime().Seconds(),
		MajFlt:   int64(ru.Majflt),
		MinFlt:   int64(ru.Minflt),
		InBytes:  int64(ru.Inblock) * 512,
		OutBytes: int64(ru.Oublock) * 512,
	}
}
