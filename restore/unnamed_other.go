//go:build !linux

package restore

import (
	"errors"
	"os"
)

// unnamedFiles: only Linux has them (unnamed_linux.go).
var unnamedFiles = false

// createUnnamed returns nil: the file takes a temporary name.
func (dh *dirHandle) createUnnamed() (*os.File, error) { return nil, nil }

// linkUnnamed is never called where createUnnamed makes no file.
func (dh *dirHandle) linkUnnamed(*os.File, string) error {
	return errors.New("internal error: no unnamed files on this system")
}
