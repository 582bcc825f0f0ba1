//go:build !unix

package main

import "errors"

// readMarkProbe: SQLite locks the -shm with LockFileEx on Windows, which
// cannot be tested without taking the lock.
type readMarkProbe struct{}

func openReadMarkProbe(string) (*readMarkProbe, error) {
	return nil, errors.New("no read lock probe on this system")
}

func (*readMarkProbe) held() bool { return false }

func (*readMarkProbe) close() {}
