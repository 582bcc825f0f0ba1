package repo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/faults"
	"github.com/chatsafe/chatsafe/source"
)

// BackupOptions configure one backup cycle.
type BackupOptions struct {
	Source   string
	Exclude  func(relPath string, isDir bool) bool
	Hostname string // "" = os.Hostname()
	// Progress, if set, is called after each file with the running totals.
	Progress func(files int64, readBytes int64)
}

// Warning is a path the backup could not read; the rest was backed up.
type Warning struct {
	Path string
	Err  error
}

// BackupResult reports one cycle.
type BackupResult struct {
	Snapshot   Snapshot
	Unchanged  bool  // nothing changed since the last snapshot: no delta was written
	Deltas     int   // delta objects written to the spool
	NewBlobs   int   // blobs stored by this cycle
	AddedBytes int64 // bytes of the delta objects written
	ReadBytes  int64 // content bytes read from the source
	Warnings   []Warning
}

// errStaleCache means the file cache points at blobs the repository no
// longer has (pruned, or a rebuilt repository): the scan restarts without it.
var errStaleCache = errors.New("file cache refers to blobs the repository does not hold")

// Backup reads the source directory and commits one snapshot as a delta in
// the local spool. Call Flush to upload it. When nothing changed, no delta
// is written and Unchanged is set.
func (r *Repository) Backup(ctx context.Context, opts BackupOptions) (*BackupResult, error) {
	if r.dir() == "" || r.opts.ReadOnly {
		return nil, errors.New("backup needs a writable state directory")
	}
	r.backupMu.Lock()
	defer r.backupMu.Unlock()

	src, err := filepath.Abs(opts.Source)
	if err != nil {
		return nil, err
	}
	host := opts.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	cache, err := source.LoadFileCache(filepath.Join(r.dir(), "filecache"))
	if err != nil {
		r.log.Warn("file cache unreadable; reading every file", zap.Error(err))
		cache = nil
	}
	var b *backupRun
	for attempt := 0; ; attempt++ {
		b = &backupRun{r: r, ctx: ctx, dirs: map[string][]node{}, res: &BackupResult{}, seal: newSealPipeline(r), progress: opts.Progress, cache: cache}
		// Several files are read at once: chunking runs on the scanning
		// goroutines, so one file at a time would leave cores idle.
		sc := source.NewScanner(src, source.Options{Exclude: opts.Exclude, Cache: cache, Log: r.log, Parallel: max(2, runtime.GOMAXPROCS(0))})
		err = sc.Scan(ctx, b)
		if err == nil {
			err = b.seal.drain()
		}
		if errors.Is(err, errStaleCache) && attempt == 0 && cache != nil {
			r.log.Info("file cache is stale; rescanning every file")
			b.abort()
			b.seal.stop()
			cache.Invalidate()
			continue
		}
		break
	}
	defer b.seal.stop()
	if err == nil && !b.haveRoot {
		err = errors.New("scan produced no root directory")
	}
	if err != nil {
		b.abort()
		return nil, fmt.Errorf("backing up %s: %w", src, err)
	}

	r.mu.RLock()
	var last *Snapshot
	if n := len(r.snapshots); n > 0 {
		last = &r.snapshots[n-1]
	}
	b.res.NewBlobs = int(b.newBlobs.Load())
	unchanged := last != nil && last.Tree == b.root && b.res.NewBlobs == 0
	r.mu.RUnlock()
	if unchanged {
		b.abort()
		b.res.Unchanged = true
		b.res.Snapshot = *last
		r.saveCache(cache)
		return b.res, nil
	}

	snap := Snapshot{Time: time.Now().UTC(), Tree: b.root, Hostname: host, Source: src, Files: b.files, Bytes: b.bytes,
		RootMode: b.rootMode, RootModTime: b.rootModTime}
	if _, err := rand.Read(snap.ID[:]); err != nil {
		b.abort()
		return nil, err
	}
	if b.w == nil {
		if b.w, err = r.newDeltaWriter(r.HeadSeq() + 1); err != nil {
			return nil, err
		}
	}
	snap.Seq = b.w.seq
	if err := b.commit([]Snapshot{snap}); err != nil {
		return nil, err
	}
	if err := faults.Point("backup:spooled"); err != nil {
		return nil, err
	}
	b.res.Snapshot = snap
	r.saveCache(cache)
	return b.res, nil
}

func (r *Repository) saveCache(c *source.FileCache) {
	if c == nil {
		return
	}
	if err := c.Save(); err != nil {
		r.log.Warn("saving the file cache failed; the next backup reads every file", zap.Error(err))
	}
}

// backupRun is the source.Visitor of one backup: it stores new blobs in
// the delta being written and builds the tree bottom-up (the scanner
// visits a directory after its children).
//
// The scanner reads several files at once, so the Visitor methods run
// concurrently: mu guards the tree being built and the counters, rot
// guards which delta is being written (held shared while a blob is
// submitted to it, exclusively to finish it and start the next), and hasMu
// the deduplication set that the sealing workers update.
type backupRun struct {
	r     *Repository
	ctx   context.Context
	seal  *sealPipeline
	cache *source.FileCache // may be nil

	rot sync.RWMutex
	w   *deltaWriter                // guarded by rot
	cur atomic.Pointer[deltaWriter] // w, for readers that hold no lock

	mu       sync.Mutex
	dirs     map[string][]node // entries collected per directory path
	root     crypt.ID
	haveRoot bool
	files    uint64
	bytes    uint64
	res      *BackupResult
	progress func(files, readBytes int64)
	// rootMode and rootModTime (guarded by mu) are the source directory's
	// own, for the snapshot record: a restore gives them to its target.
	rootMode    os.FileMode
	rootModTime int64

	hasMu    sync.Mutex
	newBlobs atomic.Int64
}

func parentOf(p string) string {
	if d := path.Dir(p); d != "." {
		return d
	}
	return ""
}

func (b *backupRun) has(id crypt.ID) bool {
	b.hasMu.Lock()
	defer b.hasMu.Unlock()
	return b.hasLocked(b.cur.Load(), id)
}

func (b *backupRun) hasLocked(w *deltaWriter, id crypt.ID) bool {
	if w != nil {
		if _, ok := w.has[id]; ok {
			return true
		}
	}
	b.r.mu.RLock()
	_, ok := b.r.index[id]
	b.r.mu.RUnlock()
	return ok
}

// claim reserves id for w unless the repository (or w) already holds it;
// the sealing workers call it for chunks they have just hashed.
func (b *backupRun) claim(w *deltaWriter, id crypt.ID) bool {
	b.hasMu.Lock()
	defer b.hasMu.Unlock()
	if b.hasLocked(w, id) {
		return false
	}
	w.has[id] = struct{}{}
	b.newBlobs.Add(1)
	return true
}

// acquire returns the delta being written with rot held shared (the
// caller releases it once its blob is submitted). Past the size cap it
// first commits that delta as one of its own, committing no snapshot.
func (b *backupRun) acquire() (*deltaWriter, error) {
	for {
		b.rot.RLock()
		if w := b.w; w != nil && int64(w.size()) < b.r.opts.DeltaSizeCap {
			return w, nil
		}
		b.rot.RUnlock()
		b.rot.Lock()
		var err error
		if b.w != nil && int64(b.w.size()) >= b.r.opts.DeltaSizeCap {
			err = b.commitLocked(nil)
		}
		if err == nil && b.w == nil {
			var w *deltaWriter
			if w, err = b.r.newDeltaWriter(b.r.HeadSeq() + 1); err == nil {
				b.w = w
				b.cur.Store(w)
			}
		}
		b.rot.Unlock()
		if err != nil {
			return nil, err
		}
	}
}

// store adds a blob whose id is known unless the repository already has it.
func (b *backupRun) store(id crypt.ID, typ BlobType, plain []byte, incompressible bool) error {
	if len(plain) > maxBlobSize {
		return fmt.Errorf("blob of %d bytes exceeds the format's limit of %d", len(plain), maxBlobSize)
	}
	w, err := b.acquire()
	if err != nil {
		return err
	}
	defer b.rot.RUnlock()
	if !b.claim(w, id) {
		return nil
	}
	return b.seal.submit(w, id, typ, plain, incompressible)
}

// commit finishes the current delta and makes it the head.
func (b *backupRun) commit(snaps []Snapshot) error {
	b.rot.Lock()
	defer b.rot.Unlock()
	return b.commitLocked(snaps)
}

func (b *backupRun) commitLocked(snaps []Snapshot) error {
	r := b.r
	if err := b.seal.drain(); err != nil {
		b.abortLocked()
		return err
	}
	r.mu.RLock()
	live := r.liveRefs()
	var parent deltaRef
	var forgotten [][16]byte
	if r.head != nil {
		parent = r.head.ref
		forgotten = r.head.trailer.Forgotten
	}
	r.mu.RUnlock()
	d, err := b.w.finish(parent, live, snaps, forgotten, time.Now().UnixNano())
	b.w = nil
	b.cur.Store(nil)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.deltas[d.ref.ID] = d
	r.addToIndex(d)
	r.head = d
	r.rebuildSnapshots()
	r.mu.Unlock()
	b.res.Deltas++
	b.res.AddedBytes += d.size
	return r.noteSeen(d.ref.Seq)
}

func (b *backupRun) abort() {
	b.seal.drain()
	b.rot.Lock()
	defer b.rot.Unlock()
	b.abortLocked()
}

func (b *backupRun) abortLocked() {
	b.cur.Store(nil)
	if b.w != nil {
		b.w.abort()
		b.w = nil
	}
}

// submitChunk hands one chunk to the sealing pipeline: hashed here when
// inline, else by a worker that fills slot.
func (b *backupRun) submitChunk(data []byte, incompressible, inline bool, slot *chunkRef, pending *sync.WaitGroup) error {
	w, err := b.acquire()
	if err != nil {
		return err
	}
	defer b.rot.RUnlock()
	if !inline {
		return b.seal.submitChunk(w, data, incompressible, slot, b.claim, pending)
	}
	*slot = chunkRef{ID: b.r.ids.Sum(data), Len: uint32(len(data))}
	if !b.claim(w, slot.ID) {
		return nil
	}
	return b.seal.submit(w, slot.ID, blobData, data, incompressible)
}

func (b *backupRun) File(info source.FileInfo, c source.Content) ([]byte, error) {
	// Chunks are hashed, deduplicated and sealed by the pipeline's workers
	// while this goroutine reads on; each fills its slot in the file's map.
	var slots []*chunkRef
	var pending sync.WaitGroup
	defer pending.Wait() // no worker may outlive the slots on an early return
	incompressible := c.Incompressible()
	// A small file is hashed here: waiting for the workers at the end of
	// every small file would stall the scan far more than hashing costs.
	inline := info.Size <= inlineHashLimit
	var n int64
	for {
		if err := b.ctx.Err(); err != nil {
			return nil, err
		}
		ch, err := c.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(ch.Data) > maxBlobSize {
			return nil, fmt.Errorf("chunk of %d bytes exceeds the format's limit of %d", len(ch.Data), maxBlobSize)
		}
		slot := new(chunkRef)
		slots = append(slots, slot)
		if err := b.submitChunk(ch.Data, incompressible, inline, slot, &pending); err != nil {
			return nil, err
		}
		n += int64(len(ch.Data))
	}
	pending.Wait()
	if err := b.seal.Err(); err != nil {
		return nil, err
	}
	refs := make([]chunkRef, len(slots))
	for i, s := range slots {
		refs[i] = *s
	}
	b.mu.Lock()
	b.res.ReadBytes += n
	b.mu.Unlock()
	info.Size = n
	prev, _ := decodeToken(b.cache.Token(info.Path))
	tok, err := b.makeContent(refs, prev)
	if err != nil {
		return nil, err
	}
	tok.size = n
	b.addFile(info, tok.content)
	return tok.encode(), nil
}

// inlineHashLimit: files up to this size are hashed on the scanning
// goroutine; larger ones on the sealing workers.
const inlineHashLimit = 1 << 20

// fileToken is what the file cache keeps for a file: its size and content
// and, for list content, its chunk references and how many of them its
// patches changed, so that the next version can be stored as a patch.
type fileToken struct {
	size    int64
	content content
	refs    []chunkRef // list content only
	patched int
}

func (t *fileToken) encode() []byte {
	e := &encoder{}
	e.uvarint(uint64(t.size))
	encodeContent(e, &t.content)
	if t.content.isList() {
		e.uvarint(uint64(t.patched))
		encodeChunkRefs(e, t.refs)
	}
	return e.b
}

func decodeToken(p []byte) (*fileToken, error) {
	if p == nil {
		return nil, errStaleCache
	}
	d := &decoder{b: p}
	t := &fileToken{size: int64(d.uvarint())}
	t.content = decodeContent(d)
	if t.content.isList() {
		t.patched = int(d.uvarint())
		t.refs = decodeChunkRefs(d)
	}
	if err := d.done(); err != nil {
		return nil, errStaleCache
	}
	return t, nil
}

// makeContent keeps short chunk lists inline and puts long ones into list
// blobs, so that a small change to a big database rewrites one list blob.
// When the previous version was stored in lists, a version that differs in
// few chunks is stored as a patch on those lists instead: scattered page
// changes then cost a few references each, not a whole list each.
func (b *backupRun) makeContent(refs []chunkRef, prev *fileToken) (*fileToken, error) {
	if len(refs) <= inlineChunks {
		return &fileToken{content: content{Chunks: refs}}, nil
	}
	if prev != nil && prev.content.isList() && len(prev.content.Patches) < maxPatchChain && b.hasAll(prev.content) {
		var diff []patchEntry
		for i, ref := range refs {
			if i >= len(prev.refs) || prev.refs[i] != ref {
				diff = append(diff, patchEntry{Index: i, Ref: ref})
			}
		}
		if patched := prev.patched + len(diff); patched <= len(refs)/4 {
			c := prev.content
			if len(diff) > 0 || len(refs) != len(prev.refs) {
				plain := encodePatch(len(refs), diff)
				id := b.r.ids.Sum(plain)
				if err := b.store(id, blobPatch, plain, true); err != nil {
					return nil, err
				}
				c.Patches = append(append([]crypt.ID(nil), prev.content.Patches...), id)
			}
			return &fileToken{content: c, refs: refs, patched: patched}, nil
		}
	}
	c := content{Lists: make([]crypt.ID, 0, (len(refs)+listChunks-1)/listChunks)}
	for i := 0; i < len(refs); i += listChunks {
		plain := encodeList(refs[i:min(i+listChunks, len(refs))])
		id := b.r.ids.Sum(plain)
		if err := b.store(id, blobList, plain, true); err != nil {
			return nil, err
		}
		c.Lists = append(c.Lists, id)
	}
	if len(c.Lists) > indexLists {
		e := &encoder{}
		encodeIDs(e, c.Lists)
		id := b.r.ids.Sum(e.b)
		if err := b.store(id, blobListIndex, e.b, true); err != nil {
			return nil, err
		}
		c = content{Index: id}
	}
	return &fileToken{content: c, refs: refs}, nil
}

// hasAll reports whether the repository still holds every list and patch
// of c (a prune may have dropped an old version's).
func (b *backupRun) hasAll(c content) bool {
	if c.Index != (crypt.ID{}) && !b.has(c.Index) {
		return false
	}
	for _, id := range c.Lists {
		if !b.has(id) {
			return false
		}
	}
	for _, id := range c.Patches {
		if !b.has(id) {
			return false
		}
	}
	return true
}

func (b *backupRun) addFile(info source.FileInfo, c content) {
	n := node{
		Name:    path.Base(info.Path),
		Kind:    info.Kind,
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

func (b *backupRun) Unchanged(info source.FileInfo, token []byte) error {
	t, err := decodeToken(token)
	if err != nil || !b.hasAll(t.content) {
		return errStaleCache
	}
	for _, ch := range t.content.Chunks {
		if !b.has(ch.ID) {
			return errStaleCache
		}
	}
	info.Size = t.size
	b.addFile(info, t.content)
	return nil
}

func (b *backupRun) Symlink(info source.FileInfo) error {
	p := parentOf(info.Path)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dirs[p] = append(b.dirs[p], node{
		Name: path.Base(info.Path), Kind: source.KindSymlink, Mode: info.Mode,
		ModTime: info.ModTime.UnixNano(), Target: info.LinkTarget,
	})
	return nil
}

func (b *backupRun) Dir(info source.FileInfo) error {
	b.mu.Lock()
	nodes := b.dirs[info.Path]
	delete(b.dirs, info.Path)
	b.mu.Unlock()
	// Children arrive in completion order when files are read at once;
	// sorted, an unchanged directory encodes to the same blob as before.
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	plain := encodeTree(nodes)
	id := b.r.ids.Sum(plain)
	if err := b.store(id, blobTree, plain, false); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if info.Path == "" {
		b.root, b.haveRoot = id, true
		b.rootMode, b.rootModTime = info.Mode, info.ModTime.UnixNano()
		return nil
	}
	p := parentOf(info.Path)
	b.dirs[p] = append(b.dirs[p], node{
		Name: path.Base(info.Path), Kind: source.KindDir, Mode: info.Mode,
		ModTime: info.ModTime.UnixNano(), Subtree: id,
	})
	return nil
}

func (b *backupRun) Warn(p string, err error) {
	b.mu.Lock()
	b.res.Warnings = append(b.res.Warnings, Warning{Path: p, Err: err})
	b.mu.Unlock()
	b.r.log.Warn("skipped", zap.String("path", p), zap.Error(err))
}
