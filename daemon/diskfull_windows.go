package daemon

import (
	"errors"

	"golang.org/x/sys/windows"
)

// noSpace reports whether err is a write refused for want of space.
func noSpace(err error) bool {
	return errors.Is(err, windows.ERROR_DISK_FULL) || errors.Is(err, windows.ERROR_HANDLE_DISK_FULL)
}
