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
// as they place top-level ones: each in a block group of its own, chosen
// from the name's hash, not beside dir. The rounds delete a tool's
// repository and its restore and make the next ones right after, and
// ext4 without a journal (the bench's VM) skips every inode freed in the
// last minute while it looks for a free one, scanning from the group's
// start for each new file. A restore of 1,680 files into the group the
// last one was deleted from spent ~25 % of its CPU in that scan
// (recently_deleted, find_get_block_common), chatsafe's and rclone's
// alike; a restore onto a new device, or onto ext4 with a journal, pays
// none of it (docs/benchmarks.md, "Twenty-seventh session"). Other file
// systems refuse the flag, and the caller goes on without it.
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
