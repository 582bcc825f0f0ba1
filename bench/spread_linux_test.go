package main

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// spreadNewDirs leaves the directory marked as `chattr +T` would.
func TestSpreadNewDirsMarksTheDirectory(t *testing.T) {
	dir := t.TempDir()
	err := spreadNewDirs(dir)
	if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
		// tmpfs, overlayfs and others have no such flag; the CI machine's
		// TMPDIR is ext4, where this runs.
		t.Skipf("%s's file system has no inode flags: %v", dir, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		t.Fatal(err)
	}
	if flags&fsTopdirFlag == 0 {
		t.Fatalf("flags %#x after spreadNewDirs lack FS_TOPDIR_FL (%#x)", flags, fsTopdirFlag)
	}
}
