// Package mount serves snapshots as a read-only file system through FUSE
// (github.com/hanwen/go-fuse/v2): snapshots/<time>/... for every
// snapshot (an id prefix also resolves there), and latest, a symbolic
// link to the newest; snapshots committed after mounting appear within a
// few seconds (Options.RefreshEvery). Directories are read from the store when first
// looked at and files fetch only the chunks a read covers (package
// browse). FUSE lives only in this package.
package mount

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/chatsafe/chatsafe/browse"
	"github.com/chatsafe/chatsafe/store"
)

// ErrNoFUSE means FUSE is not available on this system.
var ErrNoFUSE = errors.New("FUSE is not available")

// ErrMountpoint means the mount point is not an empty directory.
var ErrMountpoint = errors.New("bad mount point")

// Options configure a mount.
type Options struct {
	// Device is the FUSE device checked before mounting; "" is /dev/fuse.
	Device string
	// Ready, if set, is called once the file system is mounted.
	Ready func()
	// Debug logs every FUSE request (to stderr).
	Debug bool
	// RefreshEvery is how long the list of snapshots is trusted: listing
	// the root or snapshots/, looking a name up there or reading latest
	// re-reads the repository's head once it is older (0: 5 seconds).
	// Only a reader that can refresh (store.Store's Refresh) is.
	RefreshEvery time.Duration
}

// defaultRefresh keeps a busy listing from re-reading the head every time
// while a new snapshot still shows within seconds.
const defaultRefresh = 5 * time.Second

// refresher is a reader that can re-read the repository's head (store.Store).
type refresher interface {
	Refresh(ctx context.Context) error
}

// CheckMountpoint reports whether dir is usable: an existing, empty directory.
func CheckMountpoint(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%w: %s: %w (create an empty directory to mount on)", ErrMountpoint, dir, err)
	}
	if len(ents) > 0 {
		return fmt.Errorf("%w: %s is not empty (%d entries); mount on an empty directory", ErrMountpoint, dir, len(ents))
	}
	return nil
}

// snapshotNames names each snapshot's directory by its time (UTC, to the
// second); snapshots within one second get nanoseconds, and the rare
// equal times the short id too, so names sort as the snapshots do.
func snapshotNames(snaps []store.Snapshot) []string {
	format := func(s store.Snapshot, layout string) string { return s.Time.UTC().Format(layout) }
	bySecond := map[string]int{}
	for _, s := range snaps {
		bySecond[format(s, "2006-01-02T15:04:05Z")]++
	}
	names := make([]string, len(snaps))
	seen := map[string]int{}
	for i, s := range snaps {
		names[i] = format(s, "2006-01-02T15:04:05Z")
		if bySecond[names[i]] > 1 {
			names[i] = format(s, "2006-01-02T15:04:05.000000000Z")
		}
		seen[names[i]]++
	}
	for i, s := range snaps {
		if seen[names[i]] > 1 {
			names[i] += "-" + s.ShortID()
		}
	}
	return names
}

// unixTime converts a node's mtime for attributes.
func unixTime(ns int64) time.Time { return time.Unix(0, ns) }

var _ browse.Reader = (*store.Store)(nil)
