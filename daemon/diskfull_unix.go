//go:build !windows

package daemon

import (
	"errors"
	"syscall"
)

// noSpace reports whether err is a write refused for want of space.
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
