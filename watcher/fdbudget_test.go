package watcher

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// kqueue's errors when descriptors run out (EMFILE from open(2) inside
// fsnotify's Add) fall back to periodic scans, as inotify's ENOSPC does,
// with a warning that says what to raise.
func TestOutOfDescriptorsFallsBackToPolling(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE} {
		t.Run(errno.Error(), func(t *testing.T) {
			h := startWatcher(t, func(root string) {
				for _, d := range []string{"a", "b", "c"} {
					mustWrite(t, filepath.Join(root, d, "f"))
				}
			}, Options{PollInterval: 30 * time.Millisecond}, func(w *Watcher) {
				var count atomic.Int64
				w.addWatch = func(fsw *fsnotify.Watcher, dir string) error {
					if count.Add(1) > 2 {
						return fmt.Errorf("fsnotify: %w", errno)
					}
					return fsw.Add(dir)
				}
			})
			h.expectPollingWarned(3, "out of file descriptors")
		})
	}
}

// withBudget gives the watcher a descriptor budget as kqueue platforms
// have, so that its bookkeeping runs on Linux too.
func withBudget(n int) func(w *Watcher) {
	return func(w *Watcher) { w.fdBudget = n }
}

func TestDescriptorBudgetAtStart(t *testing.T) {
	h := startWatcher(t, func(root string) {
		for i := range 6 {
			mustWrite(t, filepath.Join(root, "d", fmt.Sprintf("f%d", i)))
		}
	}, Options{PollInterval: 30 * time.Millisecond}, withBudget(5))
	h.expectPollingWarned(3, "out of file descriptors")
}

func TestDescriptorBudgetLater(t *testing.T) {
	h := startWatcher(t, func(root string) {
		mustWrite(t, filepath.Join(root, "d", "f"))
	}, Options{PollInterval: 30 * time.Millisecond}, withBudget(6))
	// root, d and d/f are watched: 3 of 6. New files spend the rest.
	for i := range 4 {
		h.write(fmt.Sprintf("n%d", i), "x")
	}
	for {
		cs := h.next()
		if cs.FullScan && cs.Reason == ReasonPolling {
			break
		}
	}
	h.expectPollingWarned(2, "out of file descriptors")
}

// Only kqueue spends a descriptor per watched entry, so only there is
// there a budget.
func TestDefaultBudget(t *testing.T) {
	got := defaultFDBudget()
	switch runtime.GOOS {
	case "linux", "windows":
		if got != 0 {
			t.Fatalf("defaultFDBudget() = %d on %s, want none", got, runtime.GOOS)
		}
	default:
		if got <= 0 {
			t.Fatalf("defaultFDBudget() = %d on kqueue, want a budget", got)
		}
	}
}
