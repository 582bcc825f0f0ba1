package restore

import "testing"

// The tests that use these do not run in parallel: each changes how the
// whole package makes files, until the test ends.

// SetUnnamedFiles turns unnamed files (unnamed_linux.go) on or off.
func SetUnnamedFiles(t testing.TB, on bool) {
	was := unnamedFiles
	unnamedFiles = on
	t.Cleanup(func() { unnamedFiles = was })
}
