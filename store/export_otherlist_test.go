package store

import "time"

// SetOtherCheckTimeout sets the bound on checking a remote other than the
// first before a commit or an upload, and returns what restores it (for
// tests of a remote that never answers; not parallel).
func SetOtherCheckTimeout(d time.Duration) (restore func()) {
	old := otherListTimeout
	otherListTimeout = d
	return func() { otherListTimeout = old }
}
