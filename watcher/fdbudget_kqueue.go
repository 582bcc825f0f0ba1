//go:build darwin || freebsd || openbsd || netbsd || dragonfly

package watcher

import "syscall"

// defaultFDBudget is half the soft limit on open files: the other half is
// the database reads', the uploads' and rclone's.
func defaultFDBudget() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == 0 {
		return 128 // launchd's default soft limit is 256
	}
	return int(min(lim.Cur/2, 1<<30))
}
