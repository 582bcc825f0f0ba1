//go:build !unix

package main

import (
	"errors"
	"os"
)

// perf is Linux's: --perf stops at its startup check elsewhere.

func pauseProcess(*os.Process) error  { return errors.New("pausing a process needs Unix") }
func resumeProcess(*os.Process) error { return nil }
func interruptedExit(error) bool      { return false }
