package source

import (
	"os"

	"golang.org/x/sys/unix"
)

// checkpointLockHeld reports whether anyone holds the checkpoint lock of
// the wal-index in shm (SQLite's -shm file): a checkpointer is copying
// frames, or waiting for readers to let it restart the log. SQLite's unix
// VFS locks byte 120+n of the -shm for its lock n; WAL_CKPT_LOCK is n = 1.
// An open file description lock query also sees this process's own
// (classic) locks, and placing none, it disturbs no lock of SQLite's.
func checkpointLockHeld(shm *os.File) bool {
	lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: 0, Start: shmCkptLockByte, Len: 1}
	if err := unix.FcntlFlock(shm.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
		return false
	}
	return lk.Type != unix.F_UNLCK
}
