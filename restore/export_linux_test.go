package restore

import (
	"strings"
	"testing"
)

// RefuseLinks makes every link of an unnamed file fail, as a system
// that allows none would, so each file is copied to a temporary name.
func RefuseLinks(t testing.TB) { refuseLinksTo(t, func(string) bool { return true }) }

// RefuseTemporaryLinks refuses the links to temporary names alone: a
// file whose name is taken (--force) meets the refusal on its second
// link.
func RefuseTemporaryLinks(t testing.TB) {
	refuseLinksTo(t, func(name string) bool { return strings.HasPrefix(name, ".chatsafe-restore-") })
}

func refuseLinksTo(t testing.TB, refuse func(name string) bool) {
	refuseLink = refuse
	t.Cleanup(func() {
		refuseLink = nil
		linksRefused.Store(0)
	})
}

// LinkThroughProc makes links go through /proc/self/fd, as before Linux
// 6.10 without CAP_DAC_READ_SEARCH.
func LinkThroughProc(t testing.TB) {
	emptyPathRefused.Store(true)
	t.Cleanup(func() { emptyPathRefused.Store(false) })
}

// LinksRefused says whether a link of an unnamed file was refused, so
// its file was copied to a temporary name.
func LinksRefused() bool { return linksRefused.Load() > 0 }
