package store

import "github.com/chatsafe/chatsafe/crypt"

// A file's content in the tree, and the file cache token that lets the
// next backup skip an unchanged file or store a changed one as a patch.

// FileContent stores what a file of these chunks (size bytes) needs
// beyond its chunks, and returns its content and its file cache token.
// prevToken is the cache's token of the file's previous version, or nil.
// Tokens, given or returned, are never modified: the Store's memo keeps
// them as they are and finds them again by identity (token.go).
func (b *Writer) FileContent(refs RefList, size int64, prevToken []byte) (Content, []byte, error) {
	prev, _ := b.r.tokens.get(prevToken)
	tok, diff, err := b.makeContent(refs, prev)
	if err != nil {
		return Content{}, nil, err
	}
	tok.size = size
	var p []byte
	switch {
	case diff != nil && len(diff) == 0 && prev != nil && refs.Len() == prev.refs.Len() && size == prev.size:
		// The same version again (a file read again unchanged): its
		// token is the previous one, not one more empty amendment, and
		// its references prev's (views of it, not the blocks of refs that
		// pages read again were copied into).
		p = prevToken
		tok.refs = prev.refs
		b.memoPut(p, tok, prev, false)
	case diff != nil && b.oneShot:
		p = tok.amend(prevToken, diff)
	case diff != nil:
		// Stored as a patch on prev: its token is prev's plus the change.
		p = b.r.tokens.amend(prevToken, tok.amendment(diff), tok, prev)
	default:
		var at int
		p, at = tok.encodeAt()
		if !b.oneShot {
			// The memo keeps views of p, and the blocks refs was built
			// in become garbage: the references are kept once.
			tok.refs = viewsIn(p, at, tok.refs)
		}
		b.memoPut(p, tok, prev, true)
	}
	return tok.content, p, nil
}

// Unchanged returns the content and size a file cache token records, or
// ErrStaleCache when the store no longer holds all of it.
func (b *Writer) Unchanged(token []byte) (Content, int64, error) {
	t, err := b.r.tokens.get(token)
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
func (b *Writer) ChunkRefs(token []byte) (RefList, error) {
	t, err := b.r.tokens.get(token)
	if err != nil || !b.hasAll(t.content) {
		return RefList{}, ErrStaleCache
	}
	b.memoPut(token, t, nil, false)
	if t.content.isList() {
		return t.refs, nil
	}
	for _, ch := range t.content.Chunks {
		if !b.has(ch.ID) {
			return RefList{}, ErrStaleCache
		}
	}
	return RefsOf(t.content.Chunks), nil
}

// makeContent keeps short chunk lists inline and puts long ones into list
// blobs, so that a small change to a big database rewrites one list blob.
// When the previous version was stored in lists, a version that differs in
// few chunks is stored as a patch on those lists instead: scattered page
// changes then cost a few references each, not a whole list each.
// When the version is stored on prev's lists, the references that differ
// from prev's come with the token (non-nil, empty if none); else nil.
func (b *Writer) makeContent(refs RefList, prev *fileToken) (*fileToken, []patchEntry, error) {
	if refs.Len() <= inlineChunks {
		return &fileToken{content: Content{Chunks: refs.flat()}}, nil, nil
	}
	if prev != nil && prev.content.isList() && len(prev.content.Patches) < MaxPatchChain && b.hasAll(prev.content) {
		diff := diffRefs(prev.refs, refs)
		if patched := prev.patched + len(diff); patched <= refs.Len()/4 {
			if diff == nil {
				diff = []patchEntry{}
			}
			c := prev.content
			if len(diff) > 0 || refs.Len() != prev.refs.Len() {
				plain := encodePatch(refs.Len(), diff)
				id := b.r.ids.Sum(plain)
				if err := b.store(id, blobPatch, plain, true); err != nil {
					return nil, nil, err
				}
				c.Patches = append(append([]crypt.ID(nil), prev.content.Patches...), id)
			}
			return &fileToken{content: c, refs: sharePrev(prev.refs, refs), patched: patched}, diff, nil
		}
	}
	c := Content{Lists: make([]crypt.ID, 0, (refs.Len()+listChunks-1)/listChunks)}
	for _, seg := range refs.blocks { // runListChunks references each
		if items := b.runItems(seg); items != nil {
			// Pages sealed in groups: one run list names them by run.
			if err := b.storeList(&c, blobRunList, encodeRunList(items)); err != nil {
				return nil, nil, err
			}
			continue
		}
		for j := 0; j < len(seg); j += listChunks {
			if err := b.storeList(&c, blobList, encodeList(seg[j:min(j+listChunks, len(seg))])); err != nil {
				return nil, nil, err
			}
		}
	}
	if len(c.Lists) > indexLists {
		e := &encoder{}
		encodeIDs(e, c.Lists)
		id := b.r.ids.Sum(e.b)
		if err := b.store(id, blobListIndex, e.b, true); err != nil {
			return nil, nil, err
		}
		c = Content{Index: id}
	}
	return &fileToken{content: c, refs: refs}, nil, nil
}

// storeList stores a list blob and appends it to c's lists.
func (b *Writer) storeList(c *Content, typ BlobType, plain []byte) error {
	id := b.r.ids.Sum(plain)
	if err := b.store(id, typ, plain, true); err != nil {
		return err
	}
	c.Lists = append(c.Lists, id)
	return nil
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

// OneShot says that no later cycle of this process will ask for the file
// cache tokens this writer makes or reads: they are not kept decoded in
// the Store's memo (token.go), which is there for the daemon's next cycle.
// A database's decoded token keeps its references (36 bytes a page,
// ~9 MB per GB: views of the token's bytes, which they keep alive, or a
// copy where the host allows no views, tokenrefs.go), which a one-shot
// backup otherwise keeps to its end beside the new token
// (docs/benchmarks.md, "Peak RSS, third round").
func (b *Writer) OneShot() { b.oneShot = true }

// memoPut keeps t decoded in the Store's memo, unless the writer is one-shot.
func (b *Writer) memoPut(p []byte, t, from *fileToken, own bool) {
	if !b.oneShot {
		b.r.tokens.put(p, t, from, own)
	}
}
