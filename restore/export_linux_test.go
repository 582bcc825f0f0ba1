package restore

import "testing"

// RefuseLinks makes every link of an unnamed file fail, as a system
// that allows none would, so each file is copied to a temporary name.
func RefuseLinks(t testing.TB) {
	refuseLinks = true
	t.Cleanup(func() {
		refuseLinks = false
		linksRefused.Store(false)
	})
}

// LinkThroughProc makes links go through /proc/self/fd, as before Linux
// 6.10 without CAP_DAC_READ_SEARCH.
func LinkThroughProc(t testing.TB) {
	emptyPathRefused.Store(true)
	t.Cleanup(func() { emptyPathRefused.Store(false) })
}

// LinksRefused says whether a link of an unnamed file was refused, so
// files are copied to temporary names.
func LinksRefused() bool { return linksRefused.Load() }
