//go:build !unix

package source

import "time"

// processCPUTime is not measured here (the benchmark reports 0).
func processCPUTime() time.Duration { return 0 }
