package daemon

import "time"

// SetOpenBackoff sets the first wait before the daemon tries to open
// again while offline, until restore is called.
func SetOpenBackoff(d time.Duration) (restore func()) {
	was := openBackoff
	openBackoff = d
	return func() { openBackoff = was }
}
