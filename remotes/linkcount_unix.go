//go:build unix

package remotes

import (
	"os"
	"syscall"
)

// linkCount is the number of hard links to f's file.
func linkCount(f *os.File) (uint64, bool) {
	fi, err := f.Stat()
	if err != nil {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Nlink), true
}
