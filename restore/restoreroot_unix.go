//go:build unix

package restore

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lchtimesIn sets the times of the symlink rel itself, resolving its
// directory through root.
func lchtimesIn(root *os.Root, rel string, ns int64) error {
	dir, err := root.Open(filepath.Dir(rel))
	if err != nil {
		return err
	}
	defer dir.Close()
	ts := unix.NsecToTimespec(ns)
	return unix.UtimesNanoAt(int(dir.Fd()), filepath.Base(rel), []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}
