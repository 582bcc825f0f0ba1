//go:build unix

package main

import "golang.org/x/sys/unix"

// settleDisk writes every dirty page on the machine back and waits for the
// writeback to finish (sync(2)), so that a timed phase does not pay for the
// writes of the phase before it: another tool's repository, the corpus, or
// the restore just deleted.
func settleDisk() { unix.Sync() }
