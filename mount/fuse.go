//go:build linux || darwin

package mount

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
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
	root := newRoot(r, opts.RefreshEvery)
	server, err := fs.Mount(dir, root, &fs.Options{
		MountOptions: fuse.MountOptions{FsName: "chatsafe", Name: "chatsafe", Options: []string{"ro"}, DirectMount: true, Debug: opts.Debug},
		// Snapshots never change: the kernel may cache what it was told
		// (new names are looked up anew: no negative entries are cached,
		// and latest's target is read on each use).
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

// rootNode holds "snapshots" and "latest", and the list of snapshots the
// mount shows, re-read from the repository at most every refresh.
type rootNode struct {
	fs.Inode
	r       browse.Reader
	reload  func(context.Context) error // nil: the reader cannot refresh
	refresh time.Duration

	mu      sync.Mutex // guards what follows; held while reloading, so one reload at a time
	snaps   []store.Snapshot
	names   []string
	checked time.Time // when the list was last read
}

func newRoot(r browse.Reader, refresh time.Duration) *rootNode {
	if refresh <= 0 {
		refresh = defaultRefresh
	}
	n := &rootNode{r: r, refresh: refresh, checked: time.Now()}
	if rf, ok := r.(refresher); ok {
		n.reload = rf.Refresh
	}
	n.snaps = r.Snapshots()
	n.names = snapshotNames(n.snaps)
	return n
}

// view returns the snapshots and their names, re-reading the repository
// first when the list is older than refresh. A failed re-read keeps the
// list (and the store keeps what it had): it is tried again next time.
// Inodes already handed out keep their snapshot, so files open in an
// older snapshot are not disturbed.
func (n *rootNode) view(ctx context.Context) ([]store.Snapshot, []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.reload != nil && time.Since(n.checked) >= n.refresh {
		n.checked = time.Now()
		if err := n.reload(ctx); err == nil {
			n.snaps = n.r.Snapshots()
			n.names = snapshotNames(n.snaps)
		}
	}
	if len(n.snaps) > 0 && n.GetChild("latest") == nil {
		n.AddChild("latest", n.NewPersistentInode(ctx, &latestNode{root: n}, fs.StableAttr{Mode: fuse.S_IFLNK}), false)
	}
	return n.snaps, n.names
}

var _ = (fs.NodeOnAdder)((*rootNode)(nil))
var _ = (fs.NodeLookuper)((*rootNode)(nil))
var _ = (fs.NodeReaddirer)((*rootNode)(nil))

func (n *rootNode) OnAdd(ctx context.Context) {
	sd := &snapshotsNode{root: n}
	n.AddChild("snapshots", n.NewPersistentInode(ctx, sd, fs.StableAttr{Mode: fuse.S_IFDIR}), false)
	n.view(ctx)
}

// Lookup and Readdir refresh first: "latest" appears with the first snapshot.
func (n *rootNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.view(ctx)
	child := n.GetChild(name)
	if child == nil {
		return nil, syscall.ENOENT
	}
	if ga, ok := child.Operations().(fs.NodeGetattrer); ok {
		var a fuse.AttrOut
		if en := ga.Getattr(ctx, nil, &a); en == 0 {
			out.Attr = a.Attr
		}
	}
	return child, 0
}

func (n *rootNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	snaps, _ := n.view(ctx)
	ents := []fuse.DirEntry{{Name: "snapshots", Mode: fuse.S_IFDIR}}
	if len(snaps) > 0 {
		ents = append(ents, fuse.DirEntry{Name: "latest", Mode: fuse.S_IFLNK})
	}
	return fs.NewListDirStream(ents), 0
}

// latestNode links to the newest snapshot's directory, as of the last refresh.
type latestNode struct {
	fs.Inode
	root *rootNode
}

var _ = (fs.NodeReadlinker)((*latestNode)(nil))
var _ = (fs.NodeGetattrer)((*latestNode)(nil))

func (l *latestNode) target(ctx context.Context) ([]byte, store.Snapshot) {
	snaps, names := l.root.view(ctx)
	if len(snaps) == 0 { // not reached: latest exists once a snapshot does
		return nil, store.Snapshot{}
	}
	return []byte("snapshots/" + names[len(names)-1]), snaps[len(snaps)-1]
}

func (l *latestNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	t, _ := l.target(ctx)
	return t, 0
}

func (l *latestNode) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	t, s := l.target(ctx)
	out.Mode = fuse.S_IFLNK | 0o444
	out.Size = uint64(len(t))
	mt := s.Time
	out.SetTimes(&mt, &mt, &mt)
	out.SetTimeout(time.Second) // the target moves on: not cached like the snapshots
	return 0
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
	_, names := n.root.view(ctx)
	ents := make([]fuse.DirEntry, len(names))
	for i, name := range names {
		ents[i] = fuse.DirEntry{Name: name, Mode: fuse.S_IFDIR}
	}
	return fs.NewListDirStream(ents), 0
}

func (n *snapshotsNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	snaps, names := n.root.view(ctx)
	idx := -1
	for i, nm := range names {
		if nm == name {
			idx = i
		}
	}
	if idx < 0 && !strings.ContainsAny(name, "-:") {
		s, err := n.root.r.FindSnapshot(name)
		if err != nil {
			return nil, syscall.ENOENT
		}
		for i := range snaps {
			if snaps[i].ID == s.ID {
				idx = i
			}
		}
	}
	if idx < 0 {
		return nil, syscall.ENOENT
	}
	node := browse.Root(snaps[idx])
	return n.child(ctx, n.root.r, &node, out), 0
}
