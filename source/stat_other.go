//go:build !linux && !darwin

package source

import "io/fs"

// fillSys has no portable ctime/inode/device elsewhere; size and mtime remain.
func fillSys(*statID, fs.FileInfo) {}
