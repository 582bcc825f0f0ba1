//go:build unix

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// readMarkProbe opens the database's -shm to see another process's read
// transactions that hold frames of the log.
type readMarkProbe struct{ shm *os.File }

func openReadMarkProbe(dbPath string) (*readMarkProbe, error) {
	f, err := os.Open(dbPath + "-shm")
	if err != nil {
		return nil, err
	}
	return &readMarkProbe{shm: f}, nil
}

// held reports whether another process holds one of the wal-index's read
// locks 1 to 4 (SQLite's unix VFS: bytes 124–127 of the -shm): a read
// transaction whose snapshot includes frames of the log, which a TRUNCATE
// checkpoint must wait for. (Read lock 0, the database file alone, does
// not count.) A classic F_GETLK places no lock and, unlike an open file
// description query, does not see this process's own (the app's) locks.
// Closing the descriptor would drop the app's locks (POSIX locks belong to
// the process), so the probe lives as long as the app's connection.
func (p *readMarkProbe) held() bool {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 124, Len: 4}
	if err := unix.FcntlFlock(p.shm.Fd(), unix.F_GETLK, &lk); err != nil {
		return false
	}
	return lk.Type != unix.F_UNLCK
}

func (p *readMarkProbe) close() { p.shm.Close() }
