package store

import "github.com/chatsafe/chatsafe/crypt"

// A file's content in the tree, and the file cache token that lets the
// next backup skip an unchanged file or store a changed one as a patch.

// fileToken is what the file cache keeps for a file: its size and content
// and, for list content, its chunk references and how many of them its
// patches changed, so that the next version can be stored as a patch.
type fileToken struct {
	size    int64
	content Content
	refs    []ChunkRef // list content only
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
		return nil, ErrStaleCache
	}
	d := &decoder{b: p}
	t := &fileToken{size: int64(d.uvarint())}
	t.content = decodeContent(d)
	if t.content.isList() {
		t.patched = int(d.uvarint())
		t.refs = decodeChunkRefs(d)
	}
	if err := d.done(); err != nil {
		return nil, ErrStaleCache
	}
	return t, nil
}

// FileContent stores what a file of these chunks (size bytes) needs
// beyond its chunks, and returns its content and its file cache token.
// prevToken is the cache's token of the file's previous version, or nil.
func (b *Writer) FileContent(refs []ChunkRef, size int64, prevToken []byte) (Content, []byte, error) {
	prev, _ := decodeToken(prevToken)
	tok, err := b.makeContent(refs, prev)
	if err != nil {
		return Content{}, nil, err
	}
	tok.size = size
	return tok.content, tok.encode(), nil
}

// Unchanged returns the content and size a file cache token records, or
// ErrStaleCache when the store no longer holds all of it.
func (b *Writer) Unchanged(token []byte) (Content, int64, error) {
	t, err := decodeToken(token)
	if err != nil || !b.hasAll(t.content) {
		return Content{}, 0, ErrStaleCache
	}
	for _, ch := range t.content.Chunks {
		if !b.has(ch.ID) {
			return Content{}, 0, ErrStaleCache
		}
	}
	return t.content, t.size, nil
}

// ChunkRefs returns the chunk references of the version a file cache token
// records, one per chunk in order (for a database read incrementally: one
// per page), or ErrStaleCache when the store no longer holds all of it.
func (b *Writer) ChunkRefs(token []byte) ([]ChunkRef, error) {
	t, err := decodeToken(token)
	if err != nil || !b.hasAll(t.content) {
		return nil, ErrStaleCache
	}
	if t.content.isList() {
		return t.refs, nil
	}
	for _, ch := range t.content.Chunks {
		if !b.has(ch.ID) {
			return nil, ErrStaleCache
		}
	}
	return t.content.Chunks, nil
}

// makeContent keeps short chunk lists inline and puts long ones into list
// blobs, so that a small change to a big database rewrites one list blob.
// When the previous version was stored in lists, a version that differs in
// few chunks is stored as a patch on those lists instead: scattered page
// changes then cost a few references each, not a whole list each.
func (b *Writer) makeContent(refs []ChunkRef, prev *fileToken) (*fileToken, error) {
	if len(refs) <= inlineChunks {
		return &fileToken{content: Content{Chunks: refs}}, nil
	}
	if prev != nil && prev.content.isList() && len(prev.content.Patches) < MaxPatchChain && b.hasAll(prev.content) {
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
	c := Content{Lists: make([]crypt.ID, 0, (len(refs)+listChunks-1)/listChunks)}
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
		c = Content{Index: id}
	}
	return &fileToken{content: c, refs: refs}, nil
}

// hasAll reports whether the repository still holds every list and patch
// of c (a prune may have dropped an old version's).
func (b *Writer) hasAll(c Content) bool {
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
