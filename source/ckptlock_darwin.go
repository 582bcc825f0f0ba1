package source

import (
	"os"

	"golang.org/x/sys/unix"
)

// checkpointLockHeld reports whether another process holds the checkpoint
// lock of the wal-index in shm (see ckptlock_linux.go). macOS has no open
// file description locks: F_GETLK does not see this process's own locks,
// which is enough, the app is another process.
func checkpointLockHeld(shm *os.File) bool {
	lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: 0, Start: shmCkptLockByte, Len: 1}
	if err := unix.FcntlFlock(shm.Fd(), unix.F_GETLK, &lk); err != nil {
		return false
	}
	return lk.Type != unix.F_UNLCK
}
