//go:build !linux

package restore

import "os"

// unnamedFiles: only Linux has them (unnamed_linux.go).
var unnamedFiles = false

// createUnnamed returns nil: the file takes a temporary name.
func (dh *dirHandle) createUnnamed() *os.File { return nil }

// linkUnnamed is never called where createUnnamed makes no file.
func (dh *dirHandle) linkUnnamed(*os.File, string) error {
	return errNoLinks
}
