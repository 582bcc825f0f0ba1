//go:build !unix

package store

import "time"

// processCPU falls back to wall time where rusage is not available.
func processCPU() time.Duration { return time.Duration(time.Now().UnixNano()) }
