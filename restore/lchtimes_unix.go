//go:build unix

package restore

import "golang.org/x/sys/unix"

// lchtimes sets a symlink's own times, not its target's.
func lchtimes(path string, ns int64) error {
	ts := unix.NsecToTimespec(ns)
	return unix.UtimesNanoAt(unix.AT_FDCWD, path, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}
