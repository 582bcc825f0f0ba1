//go:build !(darwin || freebsd || openbsd || netbsd || dragonfly)

package watcher

// defaultFDBudget: inotify and ReadDirectoryChangesW need no descriptor
// per watched entry, so there is no budget.
func defaultFDBudget() int { return 0 }
