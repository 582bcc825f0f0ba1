package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"sync"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/source"
	"github.com/chatsafe/chatsafe/store"
)

// run is the source.Visitor of one backup: it hands content to the
// store's writer and builds the tree bottom-up (the scanner visits a
// directory after its children). The scanner reads several files at once,
// so its methods run concurrently; mu guards the tree being built and the
// counters.
type run struct {
	w     *store.Writer
	ctx   context.Context
	log   *zap.Logger
	cache *source.FileCache // may be nil
	// trees reads the previous snapshot's trees (prevRoot, if havePrev),
	// whose subtree an unreadable directory keeps.
	trees    treeReader
	prevRoot crypt.ID
	havePrev bool
	prev     prevTrees // the trees prevNode read (keep.go)

	mu   sync.Mutex
	dirs map[string][]store.Node // entries collected per directory path
	// subtotals are the totals under each directory tree of this run,
	// stored or carried, for its parent's token (dirtotals.go).
	subtotals map[crypt.ID]totals
	root      crypt.ID
	haveRoot  bool
	files     uint64
	bytes     uint64
	res       *Result
	progress  func(files, readBytes int64)
	// rootMode and rootModTime (guarded by mu) are the source directory's
	// own, for the snapshot record: a restore gives them to its target.
	rootMode    os.FileMode
	rootModTime int64
}

// treeReader reads a stored directory tree.
type treeReader interface {
	Tree(ctx context.Context, id crypt.ID) ([]store.Node, error)
}

// inlineHashLimit: files up to this size are hashed on the scanning
// goroutine; larger ones on the sealing workers.
const inlineHashLimit = 1 << 20

func parentOf(p string) string {
	if d := path.Dir(p); d != "." {
		return d
	}
	return ""
}

// kindOf maps the source's entry kind to the format's.
func kindOf(k source.Kind) store.Kind {
	switch k {
	case source.KindSQLite:
		return store.KindSQLite
	case source.KindDir:
		return store.KindDir
	case source.KindSymlink:
		return store.KindSymlink
	}
	return store.KindFile
}

func (b *run) File(info source.FileInfo, c source.Content) ([]byte, error) {
	// Chunks are hashed, deduplicated and sealed by the writer's workers
	// while this goroutine reads on; each fills its reference in f.
	f := &fileRefs{}
	defer f.pending.Wait() // no worker may outlive the references on an early return
	incompressible := c.Incompressible()
	b.offerDictSample(c)
	// A small file is hashed here: waiting for the workers at the end of
	// every small file would stall the scan far more than hashing costs.
	inline := info.Size <= inlineHashLimit
	// A database read incrementally delivers unchanged pages as carried
	// over: they are the previous version's chunks at the same index.
	prevToken := b.cache.Token(info.Path)
	var base store.RefList
	if info.Base != nil {
		var err error
		if base, err = b.w.ChunkRefs(info.Base); err != nil {
			return nil, err
		}
		prevToken = info.Base
	}
	f.reserve(info, base.Len())
	prev := prevVersion{refs: base, token: prevToken, sqlite: info.Kind == source.KindSQLite}
	// A database's new pages without a previous version go to the writer
	// in runs, which it seals as groups (docs/format.md, "Groups"), small
	// or not: its size says little when its pages are in the -wal.
	var run *pageRun
	if prev.sqlite && !incompressible {
		run = &pageRun{w: b.w, f: f}
	}
	var n, read int64
	fc, fixed := c.(source.FixedContent)
	if fixed {
		got, err := b.fixedChunks(fc, f, inline)
		if err != nil {
			return nil, err
		}
		n, read = got, got
	}
	for chunks := 0; !fixed; chunks++ {
		// Every 1024 chunks: a database read whole has ~260k pages per GB
		// (one read incrementally, a few runs of carried pages). Counted
		// per chunk, not per reference: pages delivered again add none.
		if chunks%1024 == 0 {
			if err := b.ctx.Err(); err != nil {
				return nil, err
			}
		}
		ch, err := c.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if ch.Page > 0 {
			if err := b.again(info, ch, f, run, incompressible, inline); err != nil {
				return nil, err
			}
			read += int64(len(ch.Data))
			continue
		}
		if ch.Carried != 0 {
			got, err := f.carry(info.Path, base, ch.Carried)
			if err != nil {
				return nil, err
			}
			n += got
			continue
		}
		if err := b.submitNew(ch, f, &prev, run, incompressible, inline); err != nil {
			return nil, err
		}
		n += int64(len(ch.Data))
		read += int64(len(ch.Data))
	}
	if err := run.flush(); err != nil {
		return nil, err
	}
	f.settle()
	if run != nil {
		// Its groups are sealed: the writer's bulk encoder can go.
		b.w.EndPages()
	}
	if err := b.w.Err(); err != nil {
		return nil, err
	}
	n = f.size(n)
	b.mu.Lock()
	b.res.ReadBytes += read
	b.mu.Unlock()
	info.Size = n
	content, token, err := b.w.FileContent(f.refs.List(), n, prevToken)
	if err != nil {
		return nil, err
	}
	b.addFile(info, content)
	return token, nil
}

// offerDictSample gives the writer, when it wants one, the sample of
// pages a database read whole offers before its first page: a dictionary
// is better made of pages from all over a database than of its first ones.
func (b *run) offerDictSample(c source.Content) {
	if ds, ok := c.(source.DictSampler); ok {
		if n := b.w.WantsDictSample(); n > 0 {
			b.w.DictSample(ds.DictSample(n))
		}
	}
}

// fileRefs collects a file's chunk references while the writer's
// workers fill them in. A new chunk's worker writes its reference
// straight into refs: a database's first backup costs one 36-byte
// reference per page, where a slot and an allocation of its own per
// page cost twice that and more (docs/benchmarks.md, "Peak RSS"). The
// references carried over from the previous version share its blocks
// (store.RefBuilder). A page delivered again gets a reference of its
// own, put in place in delivery order once the workers are done: the
// last delivery wins.
type fileRefs struct {
	refs      *store.RefBuilder
	redone    []newSlot
	pending   sync.WaitGroup
	truncated bool
}

// size is the file's length: n as read, or the sum of the references
// left when the file was truncated during the read.
func (f *fileRefs) size(n int64) int64 {
	if !f.truncated {
		return n
	}
	n = 0
	for i := range f.refs.Len() {
		n += int64(f.refs.At(i).Len)
	}
	return n
}

// prevVersion is a file's previous version, whose pages are the bases of
// the pages that changed: carried over ones when read incrementally, else
// the file cache's, looked up the first time a whole read offers a
// previous version (source.Chunk.Prev).
type prevVersion struct {
	refs   store.RefList
	token  []byte
	sqlite bool
	asked  bool
}

// at returns the previous version's chunk at index i.
func (p *prevVersion) at(w *store.Writer, i int) (store.ChunkRef, bool) {
	if p.refs.Len() == 0 && !p.asked && p.token != nil && p.sqlite {
		p.asked = true
		p.refs, _ = w.ChunkRefs(p.token) // none when stale
	}
	if i < p.refs.Len() {
		return p.refs.At(i), true
	}
	return store.ChunkRef{}, false
}

// chunkAt hands the writer a new chunk for index i of a file, with the
// source's copy of its previous version when it has one: the writer
// compresses the page on it if it is that version (the chunk at i).
func (b *run) chunkAt(ch source.Chunk, i int, prev *prevVersion, incompressible, inline bool, slot *store.ChunkRef, pending *sync.WaitGroup) error {
	if ch.Prev != nil {
		if was, ok := prev.at(b.w, i); ok {
			return b.w.ChunkOn(ch.Data, was.ID, ch.Prev, incompressible, inline, slot, pending)
		}
	}
	return b.w.Chunk(ch.Data, incompressible, inline, slot, pending)
}

// again hands the writer a page delivered again (a database read in
// pieces): it replaces the one delivered, the last delivery of an index
// wins; a truncation (no data) drops the pages from its index on.
func (b *run) again(info source.FileInfo, ch source.Chunk, f *fileRefs, run *pageRun, incompressible, inline bool) error {
	i := int(ch.Page - 1)
	if i >= f.refs.Len() || (ch.Truncate && i == 0) {
		return fmt.Errorf("database %q: page %d delivered again after %d pages", info.Path, ch.Page, f.refs.Len())
	}
	if ch.Truncate {
		if err := run.flush(); err != nil {
			return err
		}
		f.truncate(i)
		return nil
	}
	return b.w.Chunk(ch.Data, incompressible, inline, f.again(i), &f.pending)
}

// submitNew hands the writer the next new chunk of a file: into the run
// of pages, or alone (on its previous version when it has one).
func (b *run) submitNew(ch source.Chunk, f *fileRefs, prev *prevVersion, run *pageRun, incompressible, inline bool) error {
	i := f.refs.Len()
	grouped := run != nil
	if grouped && ch.Prev != nil {
		_, onBase := prev.at(b.w, i) // then it goes alone, on its base
		grouped = !onBase
	}
	if grouped {
		return run.add(ch.Data)
	}
	return b.chunkAt(ch, i, prev, incompressible, inline, f.next(), &f.pending)
}

// pageRun collects consecutive new pages of a database for the writer's
// Pages. It keeps the indices of their references, not pointers: a small
// first block of refs may move before the run is handed on (its pages are
// not pending yet).
type pageRun struct {
	w     *store.Writer
	f     *fileRefs
	data  []byte
	lens  []int
	at    []int
	slots []*store.ChunkRef
}

// add appends a page (copied: the source reuses its buffer) and its
// reference's slot; a full run is handed on first.
func (p *pageRun) add(page []byte) error {
	if len(p.lens) == store.RunPages || len(p.data)+len(page) > store.GroupBytes {
		if err := p.flush(); err != nil {
			return err
		}
	}
	p.f.next()
	p.at = append(p.at, p.f.refs.Len()-1)
	p.data = append(p.data, page...)
	p.lens = append(p.lens, len(page))
	return nil
}

// flush hands the run to the writer; a nil run holds nothing.
func (p *pageRun) flush() error {
	if p == nil || len(p.lens) == 0 {
		return nil
	}
	for _, i := range p.at {
		p.slots = append(p.slots, p.f.refs.Set(i))
	}
	err := p.w.Pages(p.data, p.lens, p.slots, &p.f.pending)
	clear(p.slots)
	p.data, p.lens, p.at, p.slots = p.data[:0], p.lens[:0], p.at[:0], p.slots[:0]
	return err
}

// newSlot is where a worker puts the reference of a page delivered again.
type newSlot struct {
	index int
	ref   *store.ChunkRef
}

// refsUpFront bounds the references reserved before a regular file's
// first chunk (a sparse file's size says little about its chunks).
const refsUpFront = 4096

// reserve makes room for the references a file of info's size will
// have (refsWanted): a base's length is the previous version's, whose
// references an incremental read carries over.
func (f *fileRefs) reserve(info source.FileInfo, base int) {
	f.refs = store.NewRefBuilder(refsWanted(info, base), f.pending.Wait)
}

// refsWanted is how many references a file of info's size will have: a
// database's pages exactly (read incrementally: its previous version's,
// most of them carried, and some more), a regular file's chunks at twice
// their average size of 64 KiB.
func refsWanted(info source.FileInfo, base int) int {
	var want int64
	switch {
	case base > 0:
		want = int64(base) + 64
	case info.Kind == source.KindSQLite && info.PageSize > 0:
		want = info.Size/int64(info.PageSize) + 1
	default:
		want = min(info.Size/(32<<10)+1, refsUpFront)
	}
	return int(min(max(want, 1), 1<<30))
}

// carry appends the next n references of base, the previous version of
// the database at path, for a run of pages carried over; it returns the
// pages' length.
func (f *fileRefs) carry(path string, base store.RefList, n int) (int64, error) {
	if n < 1 {
		return 0, fmt.Errorf("internal error: database %q: a run of %d pages carried over", path, n)
	}
	got, ok := f.refs.CarryRun(base, n)
	if !ok {
		// The cache's token does not describe the version the scanner
		// built on: start over without the cache.
		i := f.refs.Len()
		return 0, fmt.Errorf("database %q: pages %d to %d carried over from a previous version of %d pages: %w", path, i+1, i+n, base.Len(), store.ErrStaleCache)
	}
	return got, nil
}

// next appends a reference and returns where it goes.
func (f *fileRefs) next() *store.ChunkRef { return f.refs.Next() }

// again returns where the reference of page index i, delivered again, goes.
func (f *fileRefs) again(i int) *store.ChunkRef {
	s := newSlot{index: i, ref: new(store.ChunkRef)}
	f.redone = append(f.redone, s)
	return s.ref
}

// truncate cuts the references to the first i.
func (f *fileRefs) truncate(i int) {
	f.settle()
	f.refs.Truncate(i)
	f.truncated = true
}

// settle waits for the workers and puts the pages delivered again in
// place (of a page delivered again, the last delivery wins; a truncation
// dropped some).
func (f *fileRefs) settle() {
	f.pending.Wait()
	for _, s := range f.redone {
		if s.index < f.refs.Len() {
			*f.refs.Set(s.index) = *s.ref
		}
	}
	f.redone = f.redone[:0]
}

func (b *run) addFile(info source.FileInfo, c store.Content) {
	n := store.Node{
		Name:    path.Base(info.Path),
		Kind:    kindOf(info.Kind),
		Mode:    info.Mode,
		ModTime: info.ModTime.UnixNano(),
		Size:    uint64(info.Size),
		Content: c,
	}
	if info.Kind == source.KindSQLite {
		n.PageSize = uint32(info.PageSize)
	}
	p := parentOf(info.Path)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dirs[p] = append(b.dirs[p], n)
	b.files++
	b.bytes += uint64(info.Size)
	if b.progress != nil {
		b.progress(int64(b.files), b.res.ReadBytes)
	}
}

func (b *run) Unchanged(info source.FileInfo, token []byte) error {
	c, size, err := b.w.Unchanged(token)
	if err != nil {
		return err
	}
	info.Size = size
	b.addFile(info, c)
	return nil
}

func (b *run) Symlink(info source.FileInfo) error {
	p := parentOf(info.Path)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dirs[p] = append(b.dirs[p], store.Node{
		Name: path.Base(info.Path), Kind: store.KindSymlink, Mode: info.Mode,
		ModTime: info.ModTime.UnixNano(), Target: info.LinkTarget,
	})
	return nil
}

func (b *run) Dir(info source.FileInfo) error {
	_, err := b.DirToken(info)
	return err
}

// DirToken stores the directory's tree; its token is the tree's id, which
// stands for the directory and everything under it.
func (b *run) DirToken(info source.FileInfo) ([]byte, error) {
	b.mu.Lock()
	nodes := b.dirs[info.Path]
	delete(b.dirs, info.Path)
	b.mu.Unlock()
	// Children arrive in completion order when files are read at once;
	// sorted, an unchanged directory encodes to the same blob as before.
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	id, err := b.w.Tree(nodes)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	t := b.totalsOf(nodes)
	b.subtotals[id] = t
	b.mu.Unlock()
	b.addDir(info, id)
	return dirToken(id, t), nil
}

// UnchangedDir takes a directory outside a scoped scan's scope as the
// tree the last scan stored for it, with the files and bytes under it.
func (b *run) UnchangedDir(info source.FileInfo, token []byte) error {
	id, t, counted, ok := parseDirToken(token)
	if !ok || !b.w.Has(id) {
		return store.ErrStaleCache
	}
	if !counted {
		// A token from before the totals: count the stored trees once;
		// this cycle caches the directory with its totals.
		var err error
		if t.files, t.bytes, err = b.count(id); err != nil {
			return store.ErrStaleCache
		}
	}
	b.mu.Lock()
	b.subtotals[id] = t
	b.files += t.files
	b.bytes += t.bytes
	b.mu.Unlock()
	b.addDir(info, id)
	return nil
}

func (b *run) addDir(info source.FileInfo, id crypt.ID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if info.Path == "" {
		b.root, b.haveRoot = id, true
		b.rootMode, b.rootModTime = info.Mode, info.ModTime.UnixNano()
		return
	}
	p := parentOf(info.Path)
	b.dirs[p] = append(b.dirs[p], store.Node{
		Name: path.Base(info.Path), Kind: store.KindDir, Mode: info.Mode,
		ModTime: info.ModTime.UnixNano(), Subtree: id,
	})
}

func (b *run) Warn(p string, err error) {
	var ue *source.UnreadableError
	if errors.As(err, &ue) {
		if ue.IsDir && b.keepDir(p) || !ue.IsDir && !ue.Kept && b.keepFile(p) {
			ue.Kept = true
		}
		b.mu.Lock()
		b.res.Incomplete = append(b.res.Incomplete, store.Omission{Path: p, Reason: ue.Error()})
		b.mu.Unlock()
	}
	b.mu.Lock()
	b.res.Warnings = append(b.res.Warnings, Warning{Path: p, Err: err})
	b.mu.Unlock()
	b.log.Warn("skipped", zap.String("path", p), zap.Error(err))
}
