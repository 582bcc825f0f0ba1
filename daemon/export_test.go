package daemon

import (
	"time"

	"github.com/chatsafe/chatsafe/instance"
)

// SetOpenBackoff sets the first wait before the daemon tries to open
// again while offline, until restore is called.
func SetOpenBackoff(d time.Duration) (restore func()) {
	was := openBackoff
	openBackoff = d
	return func() { openBackoff = was }
}

// InstanceOptions is how d opens its installation.
func (d *Daemon) InstanceOptions() instance.Options { return d.instanceOptions() }
