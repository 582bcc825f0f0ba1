package source

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// cacheMagic starts a cache file; the version is bumped whenever the
// file's layout or the meaning of a cacheEntry field changes, so an old
// file just reads as an empty cache. A field added whose zero value is
// safe needs no bump: gob leaves it zero in an older file's entries (Mark,
// WholeRead: both make the next read of a database whole; Mark.SumsKept:
// the next rule-3 read is whole). After it: the payload's length (uint64 little-endian), the
// payload, and the payload's SHA-256. The sum catches a file changed on
// disk: a token that still decoded would give the next version of a
// database the wrong base for its patch. The payload of v4 is a stream of
// gob values, the entries' count and then each path with its entry, each
// entry's token after its gob value as raw bytes (the record says how
// many), so that Save holds no copy of a token: a 1 GB database's is ~10
// MB. v3's, still read, has the token inside the gob value; v2's, still
// read, is the whole map as one value.
const (
	cacheMagic   = "chatsafe-source-filecache v4\n"
	cacheMagicV3 = "chatsafe-source-filecache v3\n"
	cacheMagicV2 = "chatsafe-source-filecache v2\n"
)

// cacheRecord is one entry of a v3 or v4 payload.
type cacheRecord struct {
	Path  string
	Entry cacheEntry
	// TokenLen (v4) counts the token's bytes that follow the record; its
	// Entry.Token is empty.
	TokenLen uint64
}

// maxCacheFile bounds the payload a cache file may claim (a token is about
// 36 bytes per database page: 10 MB for a 1 GB database).
const maxCacheFile = 4 << 30

// cacheEntry is what the cache knows about one path.
type cacheEntry struct {
	Kind     Kind
	ID       statID // the file (for SQLite: the database file) when it was read
	WalID    statID // SQLite only: the -wal file then (zero if none)
	Mode     fs.FileMode
	Size     int64 // content size, as in FileInfo.Size
	PageSize int
	DBHeader bool // the file starts with the SQLite header (its companions are skipped)
	Token    []byte
	// Mark is where a SQLite snapshot stood in the database's -wal, for
	// incremental reads (nil: read the whole database next time). Caches
	// written before it existed decode with nil.
	Mark *walMark
	// WholeRead is when the database (KindSQLite) was last read whole,
	// on the scanner's clock; an incremental read keeps it. Zero: never
	// recorded (caches written before it existed decode so), which makes
	// the next read whole (sqlite_fullread.go).
	WholeRead time.Time
	// Reread: do not trust the stat identity next time (mtime too close to the
	// read, content not verified, or left for the next cycle).
	Reread bool
}

// FileCache remembers, per path, the stat identity and the visitor's token.
// It is persisted in the state directory (mode 0600: it holds paths). A
// FileCache is safe for concurrent use, but one Scan at a time should use it.
type FileCache struct {
	path string

	mu      sync.Mutex
	entries map[string]cacheEntry
	gen     uint64 // bumped by Invalidate; a Scan begun before does not commit
	// rereads are the paths of the entries marked Reread, and keys (when
	// keysOK) the paths of all entries, sorted: a scoped scan finds what
	// it must look at and what was deleted without going through every
	// entry (a cycle must not cost per file of the tree).
	rereads []string
	keys    []string
	keysOK  bool
	// loadWarning explains why a cache file was ignored; the next Scan logs it.
	loadWarning error
	// undo, from Mark to Keep or Rollback, is how to go back to the
	// cache as it was at Mark (nil: not marked).
	undo *cacheUndo
}

// cacheUndo is the cache at Mark, without a copy of its entries: a
// complete scan installs a new map and an interrupted one a merged copy,
// so the map at Mark is changed in place only by a scoped scan's commit,
// which first notes there what it replaces (prev).
type cacheUndo struct {
	entries map[string]cacheEntry
	live    bool // entries is still the cache's map
	prev    map[string]undoEntry
	rereads []string
	keys    []string
	keysOK  bool
}

// undoEntry is a path's entry before a scoped commit changed it.
type undoEntry struct {
	e   cacheEntry
	had bool // false: the path had no entry
}

// LoadFileCache reads the cache at path. A missing file gives an empty cache;
// so does a corrupt one (the next Scan logs a warning and every file is read
// once). It fails only if the file exists but cannot be read, which the user
// must fix (check permissions of the state directory).
func LoadFileCache(path string) (*FileCache, error) {
	c := &FileCache{path: path, entries: map[string]cacheEntry{}}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read file cache: %w (check the permissions of the state directory)", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read file cache: %w (check the permissions of the state directory)", err)
	}
	entries, err := decodeCache(bufio.NewReader(f), fi.Size())
	if err != nil {
		c.loadWarning = fmt.Errorf("file cache %s is unreadable, every file will be read again: %w", path, err)
		return c, nil
	}
	c.entries = entries
	c.rereads = rereadsOf(entries, nil, entries)
	return c, nil
}

// decodeCache reads a cache file of size bytes from r.
func decodeCache(r io.Reader, size int64) (map[string]cacheEntry, error) {
	head := make([]byte, len(cacheMagic)+8)
	_, err := io.ReadFull(r, head)
	magic := string(head[:len(cacheMagic)])
	if err != nil || (magic != cacheMagic && magic != cacheMagicV3 && magic != cacheMagicV2) {
		return nil, errors.New("not a chatsafe file cache of this version")
	}
	n := binary.LittleEndian.Uint64(head[len(cacheMagic):])
	if n > maxCacheFile || int64(n) > size-int64(len(head))-sha256.Size {
		return nil, fmt.Errorf("claims %d bytes", n)
	}
	h := sha256.New()
	limited := &io.LimitedReader{R: r, N: int64(n)}
	payload := io.TeeReader(limited, h)
	var entries map[string]cacheEntry
	var decErr error
	switch magic {
	case cacheMagicV2:
		decErr = gob.NewDecoder(payload).Decode(&entries)
	case cacheMagicV3:
		entries, decErr = decodeRecords(gob.NewDecoder(payload), nil, n)
	default:
		// The decoder reads from br exactly its messages (br is an
		// io.ByteReader), so the tokens between them are read from br too.
		br := bufio.NewReader(payload)
		left := func() uint64 { return uint64(limited.N) + uint64(br.Buffered()) }
		entries, decErr = decodeRecords(gob.NewDecoder(br), &tokenReader{br, left}, n)
	}
	// The sum is checked whatever the decoder made of the bytes.
	if _, err := io.Copy(io.Discard, payload); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	sum := make([]byte, sha256.Size)
	if _, err := io.ReadFull(r, sum); err != nil {
		return nil, errors.New("truncated")
	}
	if !bytes.Equal(sum, h.Sum(nil)) {
		return nil, errors.New("its checksum does not match (changed on disk)")
	}
	if decErr != nil {
		return nil, fmt.Errorf("decode: %w", decErr)
	}
	if entries == nil {
		entries = map[string]cacheEntry{}
	}
	return entries, nil
}

// tokenReader reads v4 tokens; left is what the payload still holds.
type tokenReader struct {
	r    io.Reader
	left func() uint64
}

// decodeRecords reads a v3 or v4 payload of n bytes: the count, then the
// records; for v4, tokens holds each record's token after it.
func decodeRecords(dec *gob.Decoder, tokens *tokenReader, n uint64) (map[string]cacheEntry, error) {
	var count uint64
	if err := dec.Decode(&count); err != nil {
		return nil, err
	}
	if count > n { // every record takes bytes: a count beyond them is damage
		return nil, fmt.Errorf("claims %d entries in %d bytes", count, n)
	}
	entries := make(map[string]cacheEntry, min(count, 1<<16))
	for range count {
		var rec cacheRecord
		if err := dec.Decode(&rec); err != nil {
			return nil, err
		}
		if rec.TokenLen > 0 {
			// Allocated once the payload is known to hold it: the
			// payload's length was checked against the file's.
			if tokens == nil || rec.TokenLen > tokens.left() || rec.TokenLen > math.MaxInt {
				return nil, fmt.Errorf("%s: a %d-byte token where none can be", rec.Path, rec.TokenLen)
			}
			rec.Entry.Token = make([]byte, rec.TokenLen)
			if _, err := io.ReadFull(tokens.r, rec.Entry.Token); err != nil {
				return nil, fmt.Errorf("%s: its token: %w", rec.Path, err)
			}
		}
		entries[rec.Path] = rec.Entry
	}
	return entries, nil
}

// encodeRecords writes c's entries as a v4 payload to w, one entry's
// encoding at a time, each token as it is.
func (c *FileCache) encodeRecords(w io.Writer) error {
	enc := gob.NewEncoder(w)
	if err := enc.Encode(uint64(len(c.entries))); err != nil {
		return err
	}
	for p, e := range c.entries {
		token := e.Token
		e.Token = nil
		if err := enc.Encode(cacheRecord{Path: p, Entry: e, TokenLen: uint64(len(token))}); err != nil {
			return err
		}
		if _, err := w.Write(token); err != nil {
			return err
		}
	}
	return nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n uint64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += uint64(n)
	return n, err
}

// Save writes the cache atomically (temp file, fsync, rename, fsync of the
// directory). After a complete Scan only the entries seen by it are kept, so
// deleted files drop out.
func (c *FileCache) Save() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	dir := filepath.Dir(c.path)
	tmp, err := os.CreateTemp(dir, filepath.Base(c.path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("save file cache: %w (check that the state directory %s is writable)", err, dir)
	}
	tmpName := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	// CreateTemp already uses 0600; chmod guards against an unusual umask path.
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("save file cache: %w", err)
	}
	// The payload streams to the file (through its sum); its length,
	// which comes first, is written in its place once known.
	w := bufio.NewWriter(tmp)
	w.WriteString(cacheMagic)
	w.Write(make([]byte, 8))
	h := sha256.New()
	payload := &countingWriter{w: io.MultiWriter(w, h)}
	if err := c.encodeRecords(payload); err != nil {
		return fmt.Errorf("save file cache: %w", err)
	}
	w.Write(h.Sum(nil))
	if err := w.Flush(); err != nil { // bufio keeps the first write error
		return fmt.Errorf("save file cache: %w", err)
	}
	if _, err := tmp.WriteAt(binary.LittleEndian.AppendUint64(nil, payload.n), int64(len(cacheMagic))); err != nil {
		return fmt.Errorf("save file cache: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("save file cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save file cache: %w", err)
	}
	if err := os.Rename(tmpName, c.path); err != nil {
		return fmt.Errorf("save file cache: %w", err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		// The rename is durable only once the directory is synced.
		syncErr := d.Sync()
		d.Close()
		if syncErr != nil {
			return fmt.Errorf("save file cache: sync %s: %w", dir, syncErr)
		}
	}
	return nil
}

// Invalidate forgets everything (e.g. after the repository was rebuilt): the
// next Scan reads every file. A Scan running meanwhile does not restore it,
// nor does a Rollback: the entries before were found wrong.
func (c *FileCache) Invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = map[string]cacheEntry{}
	c.rereads, c.keys, c.keysOK = nil, nil, false
	c.gen++
	if c.undo != nil {
		c.undo = &cacheUndo{entries: c.entries, live: true}
	}
}

// Mark starts a cycle whose outcome is not known yet: until Keep or
// Rollback, the cache records how to go back to what it is now. The cost
// is per entry a scoped scan changes, not per entry of the cache.
func (c *FileCache) Mark() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.undo = &cacheUndo{entries: c.entries, live: true, rereads: c.rereads, keys: c.keys, keysOK: c.keysOK}
}

// Keep ends a marked cycle that committed: its scans' entries stay.
func (c *FileCache) Keep() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.undo = nil
}

// Rollback ends a marked cycle that failed: the cache goes back to what it
// was at Mark (or at the cycle's Invalidate), forgetting versions its scans
// read that were never committed, and keeping those the committed cycles
// before it stored. A Scan running meanwhile does not commit.
func (c *FileCache) Rollback() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	u := c.undo
	if u == nil {
		return
	}
	c.undo = nil
	for p, pe := range u.prev {
		if pe.had {
			u.entries[p] = pe.e
		} else {
			delete(u.entries, p)
		}
	}
	c.entries, c.rereads, c.keys, c.keysOK = u.entries, u.rereads, u.keys, u.keysOK
	c.gen++
}

// noteReplaced records, in a marked cycle whose map at Mark a scoped
// commit is about to change in place, the entry p has there now (the
// first such change wins). The caller holds c.mu.
func (c *FileCache) noteReplaced(p string) {
	u := c.undo
	if u == nil || !u.live {
		return
	}
	if _, noted := u.prev[p]; noted {
		return
	}
	if u.prev == nil {
		u.prev = map[string]undoEntry{}
	}
	e, had := u.entries[p]
	u.prev[p] = undoEntry{e: e, had: had}
}

// scanCache is one Scan's view of the cache: lookups go to the entries as
// they were when the scan began, results collect in next.
type scanCache struct {
	mu         sync.Mutex // guards next: files may be read concurrently
	c          *FileCache
	old        map[string]cacheEntry
	next       map[string]cacheEntry
	gen        uint64
	oldRereads []string // of old: never modified, a commit replaces it
	// listed is set for a scoped scan: the directories it listed. Entries
	// under the others were carried over and stay as they were.
	listed map[string]bool
}

// begin starts a scan; a scoped one sees few paths, so its results do not
// get a map the size of the cache.
func (c *FileCache) begin(scoped bool) (*scanCache, error) {
	if c == nil {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	warn := c.loadWarning
	c.loadWarning = nil
	hint := len(c.entries)
	if scoped {
		hint = 0
	}
	return &scanCache{c: c, old: c.entries, next: make(map[string]cacheEntry, hint), gen: c.gen, oldRereads: c.rereads}, warn
}

func (s *scanCache) lookup(rel string) (cacheEntry, bool) {
	if s == nil {
		return cacheEntry{}, false
	}
	e, ok := s.old[rel]
	return e, ok
}

func (s *scanCache) put(rel string, e cacheEntry) {
	if s != nil {
		s.mu.Lock()
		s.next[rel] = e
		s.mu.Unlock()
	}
}

// commit installs the scan's results. A complete scan replaces the entries
// (deleted files drop out); an interrupted one only updates what it saw.
func (s *scanCache) commit(complete bool) {
	if s == nil {
		return
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if s.c.gen != s.gen {
		return
	}
	if s.c.undo != nil && !(complete && s.listed != nil) {
		s.c.undo.live = false // entries becomes another map
	}
	switch {
	case complete && s.listed != nil:
		s.c.entries = s.scoped()
	case complete:
		s.c.entries = s.next
		s.c.keys, s.c.keysOK = nil, false
	default:
		merged := make(map[string]cacheEntry, len(s.c.entries)+len(s.next))
		for k, v := range s.c.entries {
			merged[k] = v
		}
		for k, v := range s.next {
			merged[k] = v
		}
		s.c.entries = merged
		s.c.keys, s.c.keysOK = nil, false
	}
	s.c.rereads = rereadsOf(s.next, s.oldRereads, s.c.entries)
}

// rereadsOf returns the paths marked Reread in now, given that any such
// path is in next or among old (the rereads of the entries before).
func rereadsOf(next map[string]cacheEntry, old []string, now map[string]cacheEntry) []string {
	var out []string
	for _, p := range old {
		if _, again := next[p]; !again && now[p].Reread {
			out = append(out, p)
		}
	}
	for p, e := range next {
		if e.Reread && now[p].Reread {
			out = append(out, p)
		}
	}
	return out
}

// setListed records, in a scoped scan (listed is set only then), that it
// listed the directory rel.
func (s *scanCache) setListed(rel string) {
	if s != nil && s.listed != nil {
		s.mu.Lock()
		s.listed[rel] = true
		s.mu.Unlock()
	}
}

// rereads returns the paths whose entries must not be trusted (shared:
// do not modify).
func (s *scanCache) rereads() []string {
	if s == nil {
		return nil
	}
	return s.oldRereads
}

// Token returns the token the cache holds for rel from the last complete
// scan, or nil. A consumer may use it to describe a new version of the file
// relative to the previous one.
func (c *FileCache) Token(rel string) []byte {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[rel].Token
}
