package watcher

import (
	"errors"
	"fmt"
	"syscall"
)

// On macOS and the BSDs fsnotify uses kqueue, which needs an open file
// descriptor for every watched directory and for every entry in it. A large
// chat directory could use up the process's descriptors, and then SQLite and
// rclone fail to open files too. So there the watcher keeps a budget (half
// the soft RLIMIT_NOFILE) and falls back to periodic scans before reaching
// it. inotify (Linux) and ReadDirectoryChangesW (Windows) need no
// descriptor per entry: no budget.

// errFDBudget is returned when watching more would pass the budget. It
// wraps EMFILE so that it takes the same fallback as a real EMFILE.
type errFDBudget struct{ budget int }

func (e errFDBudget) Error() string {
	return fmt.Sprintf("watching more than %d files and directories would use up the file descriptors this process may open", e.budget)
}

func (e errFDBudget) Unwrap() error { return syscall.EMFILE }

// outOfDescriptors reports whether err means the process (EMFILE) or the
// system (ENFILE) has no file descriptors left, or the budget is spent.
func outOfDescriptors(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// spend counts n more descriptors in use by watches and returns
// errFDBudget once the budget is passed. No budget: never.
func (w *Watcher) spend(n int) error {
	if w.fdBudget <= 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fdSpent += n
	if w.fdSpent > w.fdBudget {
		return errFDBudget{w.fdBudget}
	}
	return nil
}

// refund gives back n descriptors (entries removed or renamed away).
func (w *Watcher) refund(n int) {
	if w.fdBudget <= 0 {
		return
	}
	w.mu.Lock()
	w.fdSpent = max(0, w.fdSpent-n)
	w.mu.Unlock()
}
