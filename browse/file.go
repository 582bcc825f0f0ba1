package browse

import (
	"context"
	"fmt"
	"io"
	"sort"

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

// ChunkPlaces maps each distinct chunk of the file to every offset it
// fills, in order: for a writer of whole files that places chunks as
// FetchBlobs delivers them, in any order and once per distinct id
// (restore). The sizes were checked against the entry by Open.
func (f *File) ChunkPlaces() map[crypt.ID][]int64 {
	places := make(map[crypt.ID][]int64, len(f.refs))
	for i, ref := range f.refs {
		places[ref.ID] = append(places[ref.ID], f.offs[i])
	}
	return places
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
	ids := make([]crypt.ID, 0, last-first+1)
	for i := first; i <= last; i++ {
		ids = append(ids, f.refs[i].ID)
	}
	err := f.r.FetchBlobs(ctx, ids, func(id crypt.ID, plain []byte) error {
		// The same chunk may appear more than once (repeated pages);
		// FetchBlobs calls once per id, so copy it to every place.
		for i := first; i <= last; i++ {
			if f.refs[i].ID != id {
				continue
			}
			lo, hi := max(f.offs[i], off), min(f.offs[i+1], end)
			copy(p[lo-off:hi-off], plain[lo-f.offs[i]:hi-f.offs[i]])
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := int(end - off)
	if end == size && n < len(p) {
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
