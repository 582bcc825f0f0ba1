package store

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/chatsafe/chatsafe/crypt"
)

// The sealed plaintext of directory trees, file contents, chunk lists and
// patches (docs/format.md, "Objects": the blob types).

// ChunkRef is one piece of a file's content.
type ChunkRef struct {
	ID  crypt.ID
	Len uint32
}

// Content is a file's content: chunk references inline, or list blobs,
// optionally followed by patch blobs applied in order.
type Content struct {
	Chunks  []ChunkRef
	Lists   []crypt.ID // nil when Index holds them (and not yet resolved)
	Patches []crypt.ID
	Index   crypt.ID // list index blob; zero when Lists are inline
}

// isList reports whether the content is stored in lists (inline or
// through an index) rather than as inline chunks.
func (c *Content) isList() bool { return c.Lists != nil || c.Index != (crypt.ID{}) }

func encodeIDs(e *encoder, ids []crypt.ID) {
	e.uvarint(uint64(len(ids)))
	for _, id := range ids {
		e.raw(id[:])
	}
}

func decodeIDs(d *decoder) []crypt.ID {
	ids := make([]crypt.ID, d.count(32))
	for i := range ids {
		ids[i] = d.id()
	}
	return ids
}

func encodeContent(e *encoder, c *Content) {
	if c.Index != (crypt.ID{}) {
		e.byte1(3)
		e.raw(c.Index[:])
		encodeIDs(e, c.Patches)
		return
	}
	if c.Lists != nil && len(c.Patches) > 0 {
		e.byte1(2)
		encodeIDs(e, c.Lists)
		encodeIDs(e, c.Patches)
		return
	}
	if c.Lists != nil {
		e.byte1(1)
		encodeIDs(e, c.Lists)
		return
	}
	e.byte1(0)
	encodeChunkRefs(e, c.Chunks)
}

func decodeContent(d *decoder) Content {
	var c Content
	switch d.byte1() {
	case 0:
		c.Chunks = decodeChunkRefs(d)
	case 1:
		c.Lists = decodeIDs(d)
	case 2:
		c.Lists = decodeIDs(d)
		c.Patches = decodeIDs(d)
		if len(c.Patches) == 0 || len(c.Patches) > MaxPatchChain {
			d.fail("bad patch chain")
		}
	case 3:
		c.Index = d.id()
		c.Patches = decodeIDs(d)
		if len(c.Patches) > MaxPatchChain {
			d.fail("bad patch chain")
		}
	default:
		d.fail("unknown content form")
	}
	return c
}

func encodeChunkRefs(e *encoder, refs []ChunkRef) {
	e.uvarint(uint64(len(refs)))
	for _, r := range refs {
		encodeChunkRef(e, r)
	}
}

// encodeChunkRef writes one reference: its id and its length.
func encodeChunkRef(e *encoder, r ChunkRef) {
	e.raw(r.ID[:])
	e.uvarint(uint64(r.Len))
}

// decodeChunkRef reads what encodeChunkRef wrote.
func decodeChunkRef(d *decoder) ChunkRef {
	r := ChunkRef{ID: d.id()}
	l := d.uvarint()
	if l > 1<<31 {
		d.fail("chunk too large")
	}
	r.Len = uint32(l)
	return r
}

func decodeChunkRefs(d *decoder) []ChunkRef {
	return decodeChunkRefsInto(d, nil)
}

// decodeChunkRefsInto is decodeChunkRefs into dst's space when they fit
// there, else into a new slice.
func decodeChunkRefsInto(d *decoder, dst []ChunkRef) []ChunkRef {
	n := d.count(33)
	refs := dst[:0]
	if n > cap(dst) {
		refs = make([]ChunkRef, n)
	}
	refs = refs[:n]
	for i := range refs {
		refs[i] = decodeChunkRef(d)
	}
	return refs
}

// Node is one entry of a directory's tree blob.
type Node struct {
	Name     string
	Kind     Kind
	Mode     fs.FileMode
	ModTime  int64 // unix nanoseconds
	Size     uint64
	PageSize uint32   // KindSQLite
	Target   string   // KindSymlink
	Subtree  crypt.ID // KindDir
	Content  Content  // KindFile, KindSQLite
}

func encodeTree(nodes []Node) []byte {
	e := &encoder{}
	e.byte1(formatVersion)
	e.uvarint(uint64(len(nodes)))
	for i := range nodes {
		n := &nodes[i]
		e.str(n.Name)
		e.byte1(byte(n.Kind))
		e.uvarint(uint64(n.Mode))
		e.varint(n.ModTime)
		e.uvarint(n.Size)
		switch n.Kind {
		case KindDir:
			e.raw(n.Subtree[:])
		case KindSymlink:
			e.str(n.Target)
		case KindSQLite:
			e.uvarint(uint64(n.PageSize))
			encodeContent(e, &n.Content)
		default:
			encodeContent(e, &n.Content)
		}
	}
	return e.b
}

func decodeTree(p []byte) ([]Node, error) {
	d := &decoder{b: p}
	if v := d.byte1(); d.err == nil && v != formatVersion {
		return nil, fmt.Errorf("unsupported tree format version %d", v)
	}
	nodes := make([]Node, d.count(5))
	for i := range nodes {
		n := &nodes[i]
		n.Name = d.str()
		n.Kind = Kind(d.byte1())
		n.Mode = fs.FileMode(d.uvarint())
		n.ModTime = d.varint()
		n.Size = d.uvarint()
		switch n.Kind {
		case KindDir:
			n.Subtree = d.id()
		case KindSymlink:
			n.Target = d.str()
		case KindSQLite:
			ps := d.uvarint()
			if ps > 1<<16 {
				d.fail("bad page size")
			}
			n.PageSize = uint32(ps)
			n.Content = decodeContent(d)
		case KindFile:
			n.Content = decodeContent(d)
		default:
			d.fail("unknown entry kind")
		}
		if d.err == nil && !validName(n.Name) {
			d.fail("invalid entry name")
		}
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	return nodes, nil
}

// validName rejects names that would escape the restore target.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// patchEntry replaces (or appends) the chunk reference at Index.
type patchEntry struct {
	Index int
	Ref   ChunkRef
}

// maxChunks bounds a file's chunk count as a patch may state it.
const maxChunks = 1 << 28

// A patch: uvarint(total chunks) ‖ uvarint(n) ‖ n × (uvarint(index gap) ‖
// id ‖ uvarint(len)); indices strictly increase.
func encodePatch(total int, entries []patchEntry) []byte {
	e := &encoder{}
	e.uvarint(uint64(total))
	e.uvarint(uint64(len(entries)))
	prev := -1
	for _, p := range entries {
		e.uvarint(uint64(p.Index - prev - 1))
		e.raw(p.Ref.ID[:])
		e.uvarint(uint64(p.Ref.Len))
		prev = p.Index
	}
	return e.b
}

func decodePatch(p []byte) (int, []patchEntry, error) {
	d := &decoder{b: p}
	total := d.uvarint()
	if total > maxChunks {
		d.fail("patch states too many chunks")
	}
	entries := make([]patchEntry, d.count(34))
	prev := -1
	for i := range entries {
		gap := d.uvarint()
		if gap > maxChunks {
			d.fail("patch index out of range")
			break
		}
		entries[i].Index = prev + 1 + int(gap)
		entries[i].Ref.ID = d.id()
		l := d.uvarint()
		if l > 1<<31 {
			d.fail("chunk too large")
		}
		entries[i].Ref.Len = uint32(l)
		prev = entries[i].Index
		if prev >= int(total) {
			d.fail("patch index beyond the file")
			break
		}
	}
	if err := d.done(); err != nil {
		return 0, nil, err
	}
	return int(total), entries, nil
}

// applyPatch returns refs changed by a patch. Every reference past the old
// end must be given by the patch.
func applyPatch(refs []ChunkRef, total int, entries []patchEntry) ([]ChunkRef, error) {
	out := make([]ChunkRef, total)
	n := copy(out, refs)
	next := 0
	for i := n; i < total; i++ {
		for next < len(entries) && entries[next].Index < i {
			next++
		}
		if next >= len(entries) || entries[next].Index != i {
			return nil, fmt.Errorf("%w: patch leaves chunk %d undefined", errMalformed, i)
		}
	}
	for _, p := range entries {
		out[p.Index] = p.Ref
	}
	return out, nil
}

func encodeList(refs []ChunkRef) []byte {
	e := &encoder{}
	encodeChunkRefs(e, refs)
	return e.b
}

func decodeList(p []byte) ([]ChunkRef, error) {
	return decodeListInto(p, nil)
}

// decodeListInto is decodeList into dst's space when the list fits there.
func decodeListInto(p []byte, dst []ChunkRef) ([]ChunkRef, error) {
	d := &decoder{b: p}
	refs := decodeChunkRefsInto(d, dst)
	return refs, d.done()
}
