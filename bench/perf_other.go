//go:build !unix

package main

import (
	"errors"
	"os"
)

// perf is Linux's: checkPerfDir refuses --perf on any other system, so
// these are never reached there.

func pauseProcess(*os.Process) error  { return errors.New("pausing a process needs Unix") }
func resumeProcess(*os.Process) error { return nil }
func interruptedExit(error) bool      { return false }
