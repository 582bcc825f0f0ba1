//go:build linux || darwin

package mount

import (
	"context"
	"errors"
	"io"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/chatsafe/chatsafe/browse"
	"github.com/chatsafe/chatsafe/store"
)

// entry is one node of a snapshot: a directory, file, database or link.
type entry struct {
	fs.Inode
	r browse.Reader
	n store.Node

	mu    sync.Mutex
	nodes []store.Node // a directory's entries, once read
}

var _ = (fs.NodeGetattrer)((*entry)(nil))
var _ = (fs.NodeLookuper)((*entry)(nil))
var _ = (fs.NodeReaddirer)((*entry)(nil))
var _ = (fs.NodeOpener)((*entry)(nil))
var _ = (fs.NodeReader)((*entry)(nil))
var _ = (fs.NodeReadlinker)((*entry)(nil))

func typeBits(k store.Kind) uint32 {
	switch k {
	case store.KindDir:
		return fuse.S_IFDIR
	case store.KindSymlink:
		return fuse.S_IFLNK
	}
	return fuse.S_IFREG
}

func fillAttr(n *store.Node, a *fuse.Attr) {
	a.Mode = typeBits(n.Kind) | uint32(n.Mode.Perm()&^0o222)
	a.Size = n.Size
	if n.Kind == store.KindSymlink {
		a.Size = uint64(len(n.Target))
	}
	t := unixTime(n.ModTime)
	a.SetTimes(&t, &t, &t)
	a.Nlink = 1
	a.Blocks = (a.Size + 511) / 512
}

// child makes the inode for n below parent.
func (p *snapshotsNode) child(ctx context.Context, r browse.Reader, n *store.Node, out *fuse.EntryOut) *fs.Inode {
	fillAttr(n, &out.Attr)
	return p.NewInode(ctx, &entry{r: r, n: *n}, fs.StableAttr{Mode: typeBits(n.Kind)})
}

func (e *entry) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	fillAttr(&e.n, &out.Attr)
	return 0
}

func (e *entry) entries(ctx context.Context) ([]store.Node, syscall.Errno) {
	if e.n.Kind != store.KindDir {
		return nil, syscall.ENOTDIR
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.nodes == nil {
		nodes, err := e.r.Tree(ctx, e.n.Subtree)
		if err != nil {
			return nil, errno(err)
		}
		e.nodes = nodes
	}
	return e.nodes, 0
}

func (e *entry) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	nodes, en := e.entries(ctx)
	if en != 0 {
		return nil, en
	}
	for i := range nodes {
		if nodes[i].Name == name {
			fillAttr(&nodes[i], &out.Attr)
			return e.NewInode(ctx, &entry{r: e.r, n: nodes[i]}, fs.StableAttr{Mode: typeBits(nodes[i].Kind)}), 0
		}
	}
	return nil, syscall.ENOENT
}

func (e *entry) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	nodes, en := e.entries(ctx)
	if en != 0 {
		return nil, en
	}
	ents := make([]fuse.DirEntry, len(nodes))
	for i := range nodes {
		ents[i] = fuse.DirEntry{Name: nodes[i].Name, Mode: typeBits(nodes[i].Kind)}
	}
	return fs.NewListDirStream(ents), 0
}

func (e *entry) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	if e.n.Kind != store.KindSymlink {
		return nil, syscall.EINVAL
	}
	return []byte(e.n.Target), 0
}

// Open resolves the file's chunk references (its lists, not its data).
func (e *entry) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	if e.n.Kind == store.KindDir {
		return nil, 0, syscall.EISDIR
	}
	f, err := browse.Open(ctx, e.r, &e.n)
	if err != nil {
		return nil, 0, errno(err)
	}
	h := &handle{f: f}
	if e.n.Kind == store.KindSQLite {
		// Its header says whether it is in WAL mode (sqlite.go); SQLite
		// reads this first chunk first anyway.
		head := make([]byte, headerLen)
		n, err := f.ReadAt(ctx, head, 0)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, errno(err)
		}
		h.rollback = walHeader(head[:n])
	}
	// The content never changes: the kernel may keep its cached pages.
	return h, fuse.FOPEN_KEEP_CACHE, 0
}

// handle is an open file: its content, and for a database in WAL mode,
// that its header is served in rollback mode.
type handle struct {
	f        *browse.File
	rollback bool
}

// Read fetches only the chunks under the requested range.
func (e *entry) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h, ok := fh.(*handle)
	if !ok {
		return nil, syscall.EBADF
	}
	n, err := h.f.ReadAt(ctx, dest, off)
	if err != nil && n == 0 && !errors.Is(err, io.EOF) {
		return nil, errno(err)
	}
	if h.rollback {
		asRollback(dest[:n], off)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// errno maps a store error for the kernel: damage is EIO, a cancelled
// request EINTR.
func errno(err error) syscall.Errno {
	if errors.Is(err, context.Canceled) {
		return syscall.EINTR
	}
	return syscall.EIO
}
