package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// fsTopdirFlag is FS_TOPDIR_FL (linux/fs.h, `chattr +T`), which
// golang.org/x/sys does not name.
const fsTopdirFlag = 0x00020000

// spreadNewDirs marks dir so that ext2/3/4 place its new subdirectories
// as they place top-level ones: in the block group with the fewest
// directories and enough free inodes and blocks, looked for from a group
// chosen by the name's hash, not beside dir. With a new name each round
// (roundDir), a tool's next repository or restore goes to another group
// than the files the retirer emptied, and away from whatever else was
// deleted near the scratch directory: on ext4 without a journal a new
// inode is looked for past every one freed recently (retirer). Other
// file systems refuse the flag, and the caller goes on without it.
func spreadNewDirs(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		return fmt.Errorf("reading %s's inode flags: %w", dir, err)
	}
	if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags|fsTopdirFlag)); err != nil {
		return fmt.Errorf("marking %s a top of directory hierarchies: %w", dir, err)
	}
	return nil
}
