package browse

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"iter"
	"slices"
	"sort"
	"sync"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/store"
)

// File reads one file's content by byte ranges: opening it resolves its
// chunk references (reading its list blobs, not its data), and each read
// fetches only the chunks it covers.
type File struct {
	r    Reader
	refs []store.ChunkRef
	offs []int64 // offs[i] is where refs[i] starts; offs[len(refs)] is the size

	// last is the chunk the last read ended inside of, kept for the
	// next read: a media chunk is up to 2 MiB and the kernel reads a
	// mounted file 128 KiB at a time, so without it streaming a video
	// fetched and opened each chunk sixteen times. One chunk per open
	// file; mu orders the reads of one file.
	mu   sync.Mutex
	last struct {
		id   crypt.ID
		data []byte
	}
}

// Open prepares n (a file or a database) for reading.
func Open(ctx context.Context, r Reader, n *store.Node) (*File, error) {
	if n.Kind != store.KindFile && n.Kind != store.KindSQLite {
		return nil, fmt.Errorf("%s is a %s, not a file", n.Name, n.Kind)
	}
	refs, err := r.ChunkRefs(ctx, n.Content)
	if err != nil {
		return nil, err
	}
	offs := make([]int64, len(refs)+1)
	for i, ref := range refs {
		offs[i+1] = offs[i] + int64(ref.Len)
	}
	if uint64(offs[len(refs)]) != n.Size {
		return nil, &store.IntegrityError{Object: r.Locate(n.Content.FirstID()), Reason: fmt.Sprintf("%s: content adds up to %d bytes, its entry says %d", n.Name, offs[len(refs)], n.Size)}
	}
	return &File{r: r, refs: refs, offs: offs}, nil
}

// Size is the file's length in bytes.
func (f *File) Size() int64 { return f.offs[len(f.refs)] }

// Refs are the file's chunk references, in order.
func (f *File) Refs() []store.ChunkRef { return f.refs }

// Places says where each distinct chunk of a file goes: its references'
// positions sorted by id, 4 bytes a chunk. A map from id to offsets cost
// ~100 bytes a chunk and an allocation each: 26 MB more for a 1 GB
// database's restore, at its peak (docs/benchmarks.md, "Peak RSS, third
// round").
type Places struct {
	f     *File
	order []uint32 // positions in f.refs, by id, then by position
	dup   []uint64 // bit i set: the id at f.refs[i] is at other positions too
}

// ChunkPlaces finds every offset each distinct chunk of the file fills:
// for a writer of whole files that places chunks as FetchBlobs delivers
// them, in any order and once per distinct id (restore). The sizes were
// checked against the entry by Open.
func (f *File) ChunkPlaces() *Places {
	order := make([]uint32, len(f.refs)) // a file's references fit in memory: far fewer than 2^32
	for i := range order {
		order[i] = uint32(i)
	}
	slices.SortFunc(order, func(a, b uint32) int {
		if c := bytes.Compare(f.refs[a].ID[:], f.refs[b].ID[:]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	dup := make([]uint64, (len(order)+63)/64)
	for k := 1; k < len(order); k++ {
		if a, b := order[k-1], order[k]; f.refs[a].ID == f.refs[b].ID {
			dup[a/64] |= 1 << (a % 64)
			dup[b/64] |= 1 << (b % 64)
		}
	}
	return &Places{f: f, order: order, dup: dup}
}

// At appends to buf the offsets chunk id fills, ascending (none if the
// file does not hold it), and returns it.
func (p *Places) At(id crypt.ID, buf []int64) []int64 {
	return p.from(p.search(id), id, buf)
}

// search is where id's positions start in p.order.
func (p *Places) search(id crypt.ID) int {
	refs := p.f.refs
	k, _ := slices.BinarySearchFunc(p.order, id, func(i uint32, id crypt.ID) int {
		return bytes.Compare(refs[i].ID[:], id[:])
	})
	return k
}

// from appends the offsets of id's positions from p.order[k] on.
func (p *Places) from(k int, id crypt.ID, buf []int64) []int64 {
	for ; k < len(p.order) && p.f.refs[p.order[k]].ID == id; k++ {
		buf = append(buf, p.f.offs[p.order[k]])
	}
	return buf
}

// AtNext is At for a writer that places chunks in about file order, as
// a restore does with a database's pages: next is the position after the
// last chunk it placed (-1: none). When the file's chunk at next is id
// and the file holds id nowhere else, its offset is the answer without a
// search (a binary search by id cost 1–2 % of a restore's CPU). It also
// returns the position after id's first place, for the next call.
func (p *Places) AtNext(id crypt.ID, next int, buf []int64) ([]int64, int) {
	refs := p.f.refs
	if next >= 0 && next < len(refs) && refs[next].ID == id && p.dup[next/64]&(1<<(next%64)) == 0 {
		return append(buf, p.f.offs[next]), next + 1
	}
	k := p.search(id)
	if k == len(p.order) || refs[p.order[k]].ID != id {
		return buf, -1
	}
	return p.from(k, id, buf), int(p.order[k]) + 1 // p.order[k]: id's first position
}

// Len is the length the file's reference at position pos states (pos as
// AtNext's next counts: the position after id's first place is pos+1).
func (p *Places) Len(pos int) uint32 { return p.f.refs[pos].Len }

// All yields each distinct chunk's id and offsets, ascending by id.
func (p *Places) All() iter.Seq2[crypt.ID, []int64] {
	return func(yield func(crypt.ID, []int64) bool) {
		var offs []int64
		for k := 0; k < len(p.order); {
			id := p.f.refs[p.order[k]].ID
			offs = p.At(id, offs[:0])
			if !yield(id, offs) {
				return
			}
			k += len(offs)
		}
	}
}

// ReadAt fills p from offset off, fetching only the chunks under it. Like
// io.ReaderAt it returns io.EOF when it reaches the end of the file.
func (f *File) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	size := f.Size()
	if off >= size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), size)
	first := sort.Search(len(f.refs), func(i int) bool { return f.offs[i+1] > off })
	last := sort.Search(len(f.refs), func(i int) bool { return f.offs[i+1] >= end })
	f.mu.Lock()
	defer f.mu.Unlock()
	// The read's last chunk, when it goes on past the read, is kept for
	// the next one; the kept one is not fetched again.
	var keep crypt.ID
	if end < f.offs[last+1] {
		keep = f.refs[last].ID
	}
	kept := f.last.data != nil
	ids := make([]crypt.ID, 0, last-first+1)
	for i := first; i <= last; i++ {
		if !kept || f.refs[i].ID != f.last.id {
			ids = append(ids, f.refs[i].ID)
		}
	}
	if kept {
		f.place(p, off, end, first, last, f.last.id, f.last.data)
	}
	if len(ids) == 0 {
		return f.readResult(p, off, end)
	}
	err := f.r.FetchBlobs(ctx, ids, func(id crypt.ID, plain []byte) error {
		f.place(p, off, end, first, last, id, plain)
		if id == keep {
			f.last.id, f.last.data = id, append(f.last.data[:0], plain...)
		}
		return nil
	})
	if err != nil {
		f.last.data = nil // it may be half overwritten
		return 0, err
	}
	return f.readResult(p, off, end)
}

// place copies chunk id's plaintext to every place it has in p, which
// holds the bytes from off to end, under chunks first to last: the same
// chunk may appear more than once (repeated pages), and FetchBlobs calls
// once per id.
func (f *File) place(p []byte, off, end int64, first, last int, id crypt.ID, plain []byte) {
	for i := first; i <= last; i++ {
		if f.refs[i].ID != id {
			continue
		}
		lo, hi := max(f.offs[i], off), min(f.offs[i+1], end)
		copy(p[lo-off:hi-off], plain[lo-f.offs[i]:hi-f.offs[i]])
	}
}

// readResult is what ReadAt returns once p holds the bytes from off to end.
func (f *File) readResult(p []byte, off, end int64) (int, error) {
	n := int(end - off)
	if end == f.Size() && n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// dumpWindow bounds the memory WriteTo holds at once.
const dumpWindow = 8 << 20

// WriteTo writes the whole content to w in order, a window at a time.
func (f *File) WriteTo(ctx context.Context, w io.Writer) (int64, error) {
	buf := make([]byte, min(f.Size(), dumpWindow))
	var done int64
	for done < f.Size() {
		n, err := f.ReadAt(ctx, buf, done)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return done, werr
			}
			done += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return done, err
		}
	}
	return done, nil
}
