//go:build linux

package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing f's bytes [off, off+n)
// to disk, without waiting for it. It only moves work earlier: the
// delta's fsync still decides durability, but finds little left to write
// instead of a whole delta (hundreds of MB on a first backup), during
// which the writer holds every other goroutine of the backup.
func startWriteback(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		// Best effort: an error here (a file system without support)
		// leaves the work to the fsync, as before.
		_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}
