package restore

import "testing"

// SetUnnamedFiles turns unnamed files (unnamed_linux.go) on or off for
// the length of one test; the tests that use it do not run in parallel.
func SetUnnamedFiles(t testing.TB, on bool) {
	was := unnamedFiles
	unnamedFiles = on
	t.Cleanup(func() { unnamedFiles = was })
}
