//go:build linux || darwin

package mount

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/chatsafe/chatsafe/browse"
	"github.com/chatsafe/chatsafe/store"
)

// Run mounts the snapshots of r read-only at dir and serves them until ctx
// ends, then unmounts. It refuses a dir that is not an empty directory
// and says so when FUSE is missing.
func Run(ctx context.Context, r browse.Reader, dir string, opts Options) error {
	if err := CheckMountpoint(dir); err != nil {
		return err
	}
	dev := opts.Device
	if dev == "" {
		dev = "/dev/fuse"
	}
	if _, err := os.Stat(dev); err != nil {
		return fmt.Errorf("%w: %s: %w (install FUSE: apt-get install fuse3, or macFUSE on macOS)", ErrNoFUSE, dev, err)
	}
	if !haveFusermount() && os.Geteuid() != 0 {
		return fmt.Errorf("%w: fusermount3 (or fusermount) is not installed (apt-get install fuse3)", ErrNoFUSE)
	}
	snaps := r.Snapshots()
	root := &rootNode{r: r, snaps: snaps, names: snapshotNames(snaps)}
	server, err := fs.Mount(dir, root, &fs.Options{
		MountOptions: fuse.MountOptions{FsName: "chatsafe", Name: "chatsafe", Options: []string{"ro"}, DirectMount: true, Debug: opts.Debug},
		// Snapshots never change: the kernel may cache what it was told.
		EntryTimeout: &cacheFor, AttrTimeout: &cacheFor,
	})
	if err != nil {
		return fmt.Errorf("%w: mounting on %s: %w", ErrNoFUSE, dir, err)
	}
	if opts.Ready != nil {
		opts.Ready()
	}
	unmounted := make(chan struct{})
	go func() { server.Wait(); close(unmounted) }()
	select {
	case <-ctx.Done():
	case <-unmounted: // unmounted from outside (fusermount -u)
		return nil
	}
	if err := server.Unmount(); err != nil {
		return fmt.Errorf("unmounting %s: %w (close what uses it, then run fusermount3 -u %s)", dir, err, dir)
	}
	<-unmounted
	return nil
}

var cacheFor = time.Hour

func haveFusermount() bool {
	for _, name := range []string{"fusermount3", "fusermount"} {
		if _, err := exec.LookPath(name); err == nil {
			return true
		}
	}
	return false
}

// rootNode holds "snapshots" and "latest".
type rootNode struct {
	fs.Inode
	r     browse.Reader
	snaps []store.Snapshot
	names []string
}

func (n *rootNode) OnAdd(ctx context.Context) {
	sd := &snapshotsNode{root: n}
	n.AddChild("snapshots", n.NewPersistentInode(ctx, sd, fs.StableAttr{Mode: fuse.S_IFDIR}), false)
	if len(n.snaps) > 0 {
		link := &fs.MemSymlink{Data: []byte("snapshots/" + n.names[len(n.names)-1])}
		link.Attr.Mtime = uint64(n.snaps[len(n.snaps)-1].Time.Unix())
		n.AddChild("latest", n.NewPersistentInode(ctx, link, fs.StableAttr{Mode: fuse.S_IFLNK}), false)
	}
}

// snapshotsNode lists one directory per snapshot; a unique id prefix
// also resolves (unlisted).
type snapshotsNode struct {
	fs.Inode
	root *rootNode
}

var _ = (fs.NodeLookuper)((*snapshotsNode)(nil))
var _ = (fs.NodeReaddirer)((*snapshotsNode)(nil))

func (n *snapshotsNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	ents := make([]fuse.DirEntry, len(n.root.names))
	for i, name := range n.root.names {
		ents[i] = fuse.DirEntry{Name: name, Mode: fuse.S_IFDIR}
	}
	return fs.NewListDirStream(ents), 0
}

func (n *snapshotsNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	idx := -1
	for i, nm := range n.root.names {
		if nm == name {
			idx = i
		}
	}
	if idx < 0 && !strings.ContainsAny(name, "-:") {
		s, err := n.root.r.FindSnapshot(name)
		if err != nil {
			return nil, syscall.ENOENT
		}
		for i := range n.root.snaps {
			if n.root.snaps[i].ID == s.ID {
				idx = i
			}
		}
	}
	if idx < 0 {
		return nil, syscall.ENOENT
	}
	node := browse.Root(n.root.snaps[idx])
	return n.child(ctx, n.root.r, &node, out), 0
}
