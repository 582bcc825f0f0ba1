//go:build !linux

package repo

import "os"

// syncTarget syncs the target directory; without syncfs, file contents
// reach the disk when the OS flushes them.
func syncTarget(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
