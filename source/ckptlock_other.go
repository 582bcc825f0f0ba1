//go:build !linux && !darwin

package source

import "os"

// checkpointLockHeld always reports false here: on Windows SQLite locks
// the -shm with LockFileEx, which cannot be tested without taking the
// lock, so a read there does not wait for the app's checkpoints
// (docs/sqlite.md).
func checkpointLockHeld(*os.File) bool { return false }
