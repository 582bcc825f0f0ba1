//go:build unix

package main

import "syscall"

// freeBytes is the space an unprivileged writer has left on dir's file
// system; ok is false when it cannot be read.
func freeBytes(dir string) (int64, bool) {
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		return 0, false
	}
	return int64(s.Bavail) * int64(s.Bsize), true
}
