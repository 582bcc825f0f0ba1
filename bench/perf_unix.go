//go:build unix

package main

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// pauseProcess and resumeProcess hold a child still while perf attaches
// to it (attachPerf).
func pauseProcess(p *os.Process) error  { return p.Signal(syscall.SIGSTOP) }
func resumeProcess(p *os.Process) error { return p.Signal(syscall.SIGCONT) }

// interruptedExit reports whether err is a process's death by SIGINT.
func interruptedExit(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGINT
}
