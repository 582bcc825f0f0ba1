// Package flock takes an exclusive, non-blocking advisory lock on an open
// file: flock(2) on Unix, LockFileEx on Windows. The lock goes with the
// file: closing it, or the process dying, releases it.
package flock

import "errors"

// ErrLocked means another open file description (another process, or
// another open of the file) holds the lock.
var ErrLocked = errors.New("the file is locked by another process")
