package main

import (
	"fmt"
	"os"
)

// warmMemory writes size bytes into a scratch file in dir and deletes it,
// so that the timed phase that follows finds that much memory just freed.
//
// On the VMs this bench runs on, the guest hands free memory back to its
// host (virtio-balloon free page reporting, a DAMON pageout scheme), and
// the first touch of such memory costs ~10 µs a page in the kernel
// (docs/benchmarks.md, "Restore on --full: what varies"). Which tool met
// it depended on the order: the first restorer paid it, the next one
// reused the pages of the restore deleted before it (chatsafe's restore
// 3.5 s first in line, 1.7 s last; rclone's 1.7 s and 3.2 s). Every tool's
// timed phase now starts after the same warm-up, outside the timing.
func warmMemory(dir string, size int64) error {
	f, err := os.CreateTemp(dir, "warm-")
	if err != nil {
		return fmt.Errorf("warming memory: %w", err)
	}
	name := f.Name()
	defer os.Remove(name)
	buf := make([]byte, 1<<20)
	for n := int64(0); n < size; n += int64(len(buf)) {
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return fmt.Errorf("warming memory: %w", err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("warming memory: %w", err)
	}
	return os.Remove(name)
}
