package repo

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncTarget makes everything written under dir durable with one syncfs.
func syncTarget(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}
