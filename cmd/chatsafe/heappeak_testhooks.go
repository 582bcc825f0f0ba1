//go:build chatsafe_testhooks

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
)

// heapPeakHook, when CHATSAFE_TEST_HEAPPEAK names a directory, writes a
// heap profile there (heap-PID.pprof) each time a collection finds the
// live heap a twentieth above the largest before: the profile of a
// command's largest live heap, which is what its peak RSS follows
// (docs/benchmarks.md, "Peak RSS"). It runs on the finalizer goroutine
// of memLimiter.adjust.
func heapPeakHook() func(live uint64) {
	dir := os.Getenv("CHATSAFE_TEST_HEAPPEAK")
	if dir == "" {
		return nil
	}
	path := filepath.Join(dir, fmt.Sprintf("heap-%d.pprof", os.Getpid()))
	var largest uint64
	return func(live uint64) {
		if live <= largest+largest/20 {
			return
		}
		largest = live
		f, err := os.Create(path + ".tmp")
		if err != nil {
			return
		}
		err = pprof.WriteHeapProfile(f)
		if cerr := f.Close(); err == nil && cerr == nil {
			_ = os.Rename(path+".tmp", path)
			_ = os.WriteFile(path+".live", fmt.Appendf(nil, "%d\n", live), 0o644)
		}
	}
}
