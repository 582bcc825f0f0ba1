package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/remotes"
)

// What a remote controls before anything is authenticated: the config
// header, the names and sizes in a listing, a delta's footer and the
// trailer length it claims. The targets below feed those through the
// real code paths (Open over a remote) and require that the client
// neither panics, nor reads more than the format's caps in one request,
// nor reports anything but an integrity failure.

// memRemote is a remotes.Remote in memory whose objects may claim sizes
// far beyond what they store: an object is zeros up to its last bytes,
// so a fuzzed 16 GiB delta costs nothing until someone reads it.
type memRemote struct {
	mu     sync.Mutex
	objs   map[string]memObject
	maxGet int64 // the longest single read requested
	read   int64 // bytes served in total
}

type memObject struct {
	size int64
	tail []byte // the object's last len(tail) bytes; zeros before them
}

func newMemRemote() *memRemote { return &memRemote{objs: map[string]memObject{}} }

func (m *memRemote) String() string { return "memory" }

func (m *memRemote) Put(_ context.Context, name string, r io.Reader, _ int64) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m.plant(name, int64(len(b)), b)
	return nil
}

// plant stores an object of size bytes ending in tail.
func (m *memRemote) plant(name string, size int64, tail []byte) {
	switch {
	case size < 0: // a size the backend does not know
		tail = nil
	case int64(len(tail)) > size:
		tail = tail[int64(len(tail))-size:]
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objs[name] = memObject{size: size, tail: tail}
}

func (m *memRemote) Get(_ context.Context, name string, off, length int64) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objs[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, remotes.ErrNotFound)
	}
	if off < 0 || off > o.size {
		return nil, fmt.Errorf("%s: read at %d of %d bytes: %w", name, off, o.size, remotes.ErrPermanent)
	}
	if length < 0 || off+length > o.size {
		length = o.size - off
	}
	m.maxGet = max(m.maxGet, length)
	return &memReader{m: m, o: o, pos: off, end: off + length}, nil
}

type memReader struct {
	m        *memRemote
	o        memObject
	pos, end int64
}

func (r *memReader) Read(p []byte) (int, error) {
	if r.pos >= r.end {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), r.end-r.pos))
	p = p[:n]
	tailStart := r.o.size - int64(len(r.o.tail))
	zeros := int(min(int64(n), max(tailStart-r.pos, 0)))
	clear(p[:zeros])
	if zeros < n {
		copy(p[zeros:], r.o.tail[r.pos+int64(zeros)-tailStart:])
	}
	r.pos += int64(n)
	r.m.mu.Lock()
	r.m.read += int64(n)
	r.m.mu.Unlock()
	return n, nil
}

func (r *memReader) Close() error { return nil }

func (m *memRemote) List(_ context.Context, dir string) ([]remotes.ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []remotes.ObjectInfo
	for name, o := range m.objs {
		if dir == "" || strings.HasPrefix(name, dir+"/") {
			out = append(out, remotes.ObjectInfo{Name: name, Size: o.size})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (m *memRemote) Stat(_ context.Context, name string) (remotes.ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objs[name]
	if !ok {
		return remotes.ObjectInfo{}, fmt.Errorf("%s: %w", name, remotes.ErrNotFound)
	}
	return remotes.ObjectInfo{Name: name, Size: o.size}, nil
}

func (m *memRemote) Delete(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objs[name]; !ok {
		return fmt.Errorf("%s: %w", name, remotes.ErrNotFound)
	}
	delete(m.objs, name)
	return nil
}

func (m *memRemote) CleanupPartial(context.Context, time.Duration) error { return nil }
func (m *memRemote) Close() error                                        { return nil }

// fuzzKey is the backup key of the fuzzed repositories.
var fuzzKey = crypt.Key{1, 2, 3, 4, 5, 6, 7, 8}

// fuzzRepo is a real repository in memory (one snapshot of a small
// directory) whose config and objects the targets start from.
type fuzzRepo struct {
	config []byte
	delta  string // name of its one delta
	body   []byte // that delta's bytes
}

func newFuzzRepo(f *testing.F) *fuzzRepo {
	f.Helper()
	mem := newMemRemote()
	r, err := Init(f.Context(), mem, fuzzKey, Options{StateDir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	defer r.Close()
	// The package backup cannot be imported from here (it imports the
	// store), so the snapshot of one file is written as a backup writes
	// it: a chunk, the root tree, a commit, then a sync.
	w, err := r.NewWriter()
	if err != nil {
		f.Fatal(err)
	}
	defer w.Close()
	msg := []byte("hello from the fuzzer")
	var ref ChunkRef
	var pending sync.WaitGroup
	if err := w.Chunk(msg, false, true, &ref, &pending); err != nil {
		f.Fatal(err)
	}
	pending.Wait()
	now := time.Now()
	root, err := w.Tree([]Node{{Name: "msg.txt", Kind: KindFile, Mode: 0o644, ModTime: now.UnixNano(), Size: uint64(len(msg)), Content: Content{Chunks: []ChunkRef{ref}}}})
	if err != nil {
		f.Fatal(err)
	}
	snap := Snapshot{ID: [16]byte{1}, Time: now.UTC(), Tree: root, Hostname: "fuzz", Source: "/fuzz", Files: 1, Bytes: uint64(len(msg)), RootMode: fs.ModeDir | 0o700, RootModTime: now.UnixNano()}
	if _, err := w.Commit(snap); err != nil {
		f.Fatal(err)
	}
	if _, err := r.Sync(f.Context()); err != nil {
		f.Fatal(err)
	}
	fr := &fuzzRepo{config: mem.objs[configName].tail}
	for name, o := range mem.objs {
		if strings.HasPrefix(name, deltaDir+"/") {
			fr.delta, fr.body = name, o.tail
		}
	}
	if fr.delta == "" {
		f.Fatal("the backup wrote no delta")
	}
	return fr
}

// openHostile opens the repository on mem as a new device would and
// checks what a hostile remote may and may not achieve.
func openHostile(t *testing.T, mem *memRemote) {
	t.Helper()
	r, err := Open(context.Background(), mem, fuzzKey, Options{})
	if err == nil {
		r.Close()
	} else if !errors.Is(err, ErrIntegrity) {
		t.Fatalf("a hostile remote made Open fail with something other than an integrity failure: %v", err)
	}
	if mem.maxGet > maxRangeRead {
		t.Fatalf("Open read %d bytes in one request, beyond the format's cap of %d", mem.maxGet, maxRangeRead)
	}
}

// FuzzDeltaTail: the end of the newest delta (footer, trailer length,
// sealed trailer) and the size the listing gives it.
func FuzzDeltaTail(f *testing.F) {
	fr := newFuzzRepo(f)
	n := int64(len(fr.body))
	f.Add(fr.body, n)
	f.Add(fr.body[n-300:], n)
	f.Add(fr.body[n-300:], int64(16<<30))
	f.Add(fr.body[n-300:], int64(-1))
	f.Add(append(bytes.Clone(fr.body[:n-12]), fakeFooterInternal(1<<31)...), n)
	f.Add(fakeFooterInternal(uint32(maxTrailerSize)), int64(maxTrailerSize+12))
	f.Add(fakeFooterInternal(40), int64(52))
	f.Fuzz(func(t *testing.T, tail []byte, size int64) {
		if size > 1<<40 {
			size = 1 << 40 // bounds the fuzzer's own zero-filling, not the client's
		}
		mem := newMemRemote()
		mem.plant(configName, int64(len(fr.config)), fr.config)
		mem.plant(fr.delta, size, tail)
		openHostile(t, mem)
	})
}

func fakeFooterInternal(n uint32) []byte { return encodeFooter(int(n)) }

// FuzzDeltaListing: the names a listing holds under deltas/, each object
// ending in the real delta's bytes (so a name the client accepts opens a
// delta that authenticates only under its own name).
func FuzzDeltaListing(f *testing.F) {
	fr := newFuzzRepo(f)
	f.Add(fr.delta)
	f.Add(fr.delta + "\n" + deltaDir + "/ffffffffffffffff-00000000000000000000000000000000")
	f.Add(deltaDir + "/0000000000000000-00000000000000000000000000000000")
	f.Add(deltaDir + "/" + strings.ToUpper(strings.TrimPrefix(fr.delta, deltaDir+"/")))
	f.Add(deltaDir + "/tmp/x.partial\n" + deltaDir + "/" + strings.Repeat("z", 49))
	f.Fuzz(func(t *testing.T, names string) {
		mem := newMemRemote()
		mem.plant(configName, int64(len(fr.config)), fr.config)
		for i, name := range strings.Split(names, "\n") {
			if i == 16 {
				break
			}
			mem.plant(deltaDir+"/"+strings.TrimPrefix(name, deltaDir+"/"), int64(len(fr.body)), fr.body)
		}
		openHostile(t, mem)
	})
}

// FuzzDeltaName: a name the client accepts as a delta's is the one
// name that delta has, so no two listed names can stand for one delta.
func FuzzDeltaName(f *testing.F) {
	f.Add(deltaName(1, [16]byte{0xab}))
	f.Add(deltaName(1<<63, [16]byte{}))
	f.Add("deltas/000000000000000A-000000000000000000000000000000AB")
	f.Add("deltas/+00000000000000a-00000000000000000000000000000000")
	f.Fuzz(func(t *testing.T, name string) {
		seq, id, ok := parseDeltaName(name)
		if ok && deltaName(seq, id) != name {
			t.Fatalf("%q is accepted as delta %d %x, whose name is %q", name, seq, id, deltaName(seq, id))
		}
	})
}

// FuzzConfigHeader: the config object, read as Open reads it. Only the
// right key and an authentic object open; anything else is a wrong key
// or an integrity failure (or a newer format or cipher), never a panic.
func FuzzConfigHeader(f *testing.F) {
	c := repoConfig{RepoID: [16]byte{9}, Created: time.Unix(1700000000, 0)}
	for _, v := range []byte{formatVersion, configVersionRotated, configVersionCipher} {
		for _, cipher := range crypt.Ciphers() {
			c.Cipher = cipher
			good := encodeConfigAs(v, fuzzKey, c)
			f.Add(good)
			f.Add(good[:configHeaderSize])
			f.Add(append(bytes.Clone(good), make([]byte, maxConfigSize)...))
			bad := bytes.Clone(good)
			bad[len(configMagic)] ^= 3
			f.Add(bad)
		}
	}
	c.Cipher = 200 // one this chatsafe does not know, authentically
	f.Add(encodeConfigAs(configVersionCipher, fuzzKey, c))
	f.Fuzz(func(t *testing.T, p []byte) {
		raw, err := readConfigObject(bytes.NewReader(p))
		if err != nil {
			if !errors.Is(err, ErrIntegrity) || len(p) <= maxConfigSize {
				t.Fatalf("reading a %d-byte config: %v", len(p), err)
			}
			return
		}
		c, aead, err := decodeConfig(fuzzKey, raw)
		switch {
		case err == nil:
			v := raw[len(configMagic)]
			if !bytes.Equal(encodeConfigAs(v, fuzzKey, c)[:configHeaderSize], raw[:configHeaderSize]) {
				t.Fatal("an accepted config does not re-encode to its header")
			}
			if aead.Cipher() != c.Cipher || (v != configVersionCipher && c.Cipher != crypt.XChaCha20Poly1305) {
				t.Fatalf("config version %d opened with %v, stating %v", v, aead.Cipher(), c.Cipher)
			}
		case errors.Is(err, ErrWrongKey), errors.Is(err, ErrIntegrity), errors.Is(err, ErrKeyRotated):
		case errors.Is(err, ErrUnsupported) && strings.Contains(err.Error(), "upgrade chatsafe"):
		default:
			t.Fatalf("config: unexpected error %v", err)
		}
	})
}
