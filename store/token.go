package store

import (
	"bytes"
	"sync"
	"unsafe"

	"github.com/chatsafe/chatsafe/crypt"
)

// A file cache token records a file's size and content and, for list
// content, its chunk references (for a database read incrementally: one
// per page, 36 bytes each, ~9 MB per GB). A version stored as a patch on
// the previous one gets the previous token with an amendment appended (the
// changed references only), and the Store keeps the last large tokens
// decoded, so that a one-page change neither decodes nor encodes the whole
// list. The decoded references are views of the token's bytes where the
// host allows (tokenrefs.go): the memo adds block headers, not a copy.
//
// Token bytes: size ‖ content ‖ [patched ‖ mark ‖ count ‖ padding ‖ refs]
// (list content only), where mark is fixedRefsMark (ten bytes), padding
// is zero bytes up to an offset in the token that is a multiple of four,
// and each ref is 36 bytes, ChunkRef's memory layout: its id, then its
// length as a little-endian uint32. Then for list content any number of
// amendments, each
// size ‖ content ‖ patched ‖ length ‖ count ‖ count × (gap ‖ ref):
// the version's content and reference count, and its references that
// differ from the version before (ascending; gap is the distance from
// the previous changed index plus one; ref is its id and its length as a
// uvarint). Tokens written before the mark existed have the count where
// the mark is, no padding, and each length a uvarint; tokens without
// amendments are those written before amendments existed. Both still
// decode, so persisted caches still read.

// fileToken is what the file cache keeps for a file: its size and content
// and, for list content, its chunk references and how many of them its
// patches changed, so that the next version can be stored as a patch.
// A decoded token may be shared through the Store's memo: never modify one.
type fileToken struct {
	size    int64
	content Content
	refs    RefList // list content only
	patched int
}

func (t *fileToken) encode() []byte {
	p, _ := t.encodeAt()
	return p
}

// encodeAt returns the token's bytes and where its references start in
// them (list content only).
func (t *fileToken) encodeAt() ([]byte, int) {
	// Sized up front: a database's token is 36 bytes a page and stays in
	// the file cache for the whole backup, where growing it by append left
	// up to as much again unused (and copied it on the way).
	c := &t.content
	e := &encoder{b: make([]byte, 0, 96+len(c.Chunks)*(32+3)+t.refs.Len()*refSize+(len(c.Lists)+len(c.Patches))*32)}
	e.uvarint(uint64(t.size))
	encodeContent(e, &t.content)
	if !t.content.isList() {
		return e.b, 0
	}
	e.uvarint(uint64(t.patched))
	return appendFixedRefs(e.b, t.refs)
}

// amend returns prev (the bytes of the version t was patched on; not
// modified) with an amendment that makes it t's token. diff holds t's
// references that differ from the previous version's, ascending.
func (t *fileToken) amend(prev []byte, diff []patchEntry) []byte {
	a := t.amendment(diff)
	return append(append(make([]byte, 0, len(prev)+len(a)), prev...), a...)
}

// amendment is what amend appends.
func (t *fileToken) amendment(diff []patchEntry) []byte {
	e := &encoder{b: make([]byte, 0, 64+len(t.content.Patches)*33+len(diff)*40)}
	e.uvarint(uint64(t.size))
	encodeContent(e, &t.content)
	e.uvarint(uint64(t.patched))
	e.uvarint(uint64(t.refs.Len()))
	e.uvarint(uint64(len(diff)))
	next := 0
	for _, p := range diff {
		e.uvarint(uint64(p.Index - next))
		encodeChunkRef(e, p.Ref)
		next = p.Index + 1
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
		patched := d.uvarint()
		var refs RefList
		if rest, ok := bytes.CutPrefix(d.b, fixedRefsMark[:]); ok && d.err == nil {
			d.b = rest
			refs = decodeFixedRefs(d, len(p))
		} else {
			refs = decodeVarintRefs(d)
		}
		if patched > uint64(refs.Len()) {
			d.fail("token counts more patched references than it holds")
		}
		t.patched = int(patched)
		t.refs = refs
		if d.err == nil && len(d.b) > 0 {
			b := builderOn(refs) // the blocks amendments change are copied
			for d.err == nil && len(d.b) > 0 {
				decodeAmendment(d, t, b)
			}
			t.refs = b.List()
		}
	}
	if err := d.done(); err != nil {
		return nil, ErrStaleCache
	}
	return t, nil
}

// decodeVarintRefs decodes a count and as many references, each its id
// and its length as a uvarint (the layout before fixedRefsMark).
func decodeVarintRefs(d *decoder) RefList {
	n := d.count(33)
	b := NewRefBuilder(n, nil)
	for range n {
		*b.Next() = decodeChunkRef(d)
	}
	return b.List()
}

// decodeAmendment applies the next amendment to t, whose references are
// refs. It only ever fails the decoder on bad input: indexes are checked,
// and the list grows by at most the changed references it lists.
func decodeAmendment(d *decoder, t *fileToken, refs *RefBuilder) {
	t.size = int64(d.uvarint())
	t.content = decodeContent(d)
	patched := d.uvarint()
	n := d.uvarint()
	count := d.count(34)
	if d.err != nil {
		return
	}
	if !t.content.isList() || n > uint64(refs.Len()+count) || patched > n {
		d.fail("amendment does not fit its token")
		return
	}
	t.patched = int(patched)
	old := refs.Len()
	refs.Truncate(min(int(n), old))
	for refs.Len() < int(n) {
		refs.Next()
	}
	grown, next := 0, uint64(0)
	for range count {
		gap := d.uvarint()
		ref := ChunkRef{ID: d.id()}
		l := d.uvarint()
		if d.err != nil {
			return
		}
		// gap is checked before the sum, which could wrap back onto an
		// index already written.
		i := next + gap
		if gap >= n || i >= n || l > 1<<31 {
			d.fail("amendment index out of range")
			return
		}
		ref.Len = uint32(l)
		*refs.Set(int(i)) = ref
		if i >= uint64(old) {
			grown++
		}
		next = i + 1
	}
	if int(n) > old && grown != int(n)-old {
		d.fail("amendment leaves references unset")
	}
}

// diffRefs returns next's references that differ from prev's at the same
// index, ascending. A one-page change to a 1 GB database compares a
// quarter of a million references: a block next shares with prev is
// skipped, and other blocks are compared as bytes first (ChunkRef has no
// padding, so equal bytes are equal references).
func diffRefs(prev, next RefList) []patchEntry {
	var diff []patchEntry
	n := min(prev.Len(), next.Len())
	for k := 0; k*refBlockLen < n; k++ {
		if sameBlock(prev.blocks[k], next.blocks[k]) {
			continue
		}
		lo := k * refBlockLen
		hi := min(lo+refBlockLen, n)
		p, q := prev.blocks[k][:hi-lo], next.blocks[k][:hi-lo]
		if bytes.Equal(refBytes(p), refBytes(q)) {
			continue
		}
		for j := range q {
			if p[j] != q[j] {
				diff = append(diff, patchEntry{Index: lo + j, Ref: q[j]})
			}
		}
	}
	for i := n; i < next.Len(); i++ {
		diff = append(diff, patchEntry{Index: i, Ref: next.At(i)})
	}
	return diff
}

// sharePrev returns next with each block that holds the same references
// as prev's block at its index replaced by prev's. A version read whole
// (after the app's TRUNCATE checkpoint, every page delivered again) is
// built in blocks of its own; stored as a patch on prev, the blocks it
// did not change are prev's again, views of prev's token where the memo
// keeps them so (tokenrefs.go), and its own become garbage: the memo keeps
// the references once, not beside the token until the next full version.
func sharePrev(prev, next RefList) RefList {
	return next.replaceBlocks(func(k int, q []ChunkRef) ([]ChunkRef, bool) {
		if k >= len(prev.blocks) {
			return nil, false
		}
		p := prev.blocks[k]
		return p, !sameBlock(p, q) && len(p) == len(q) && bytes.Equal(refBytes(p), refBytes(q))
	})
}

// ChunkRef must have no padding for refBytes to compare references.
var _ [unsafe.Sizeof(ChunkRef{}) - (unsafe.Sizeof(crypt.ID{}) + 4)]byte
var _ [(unsafe.Sizeof(crypt.ID{}) + 4) - unsafe.Sizeof(ChunkRef{})]byte

func refBytes(refs []ChunkRef) []byte {
	if len(refs) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(refs))), len(refs)*int(unsafe.Sizeof(ChunkRef{})))
}

// memoMinToken is the smallest token the memo keeps: smaller ones decode
// in microseconds, and a scan of many small files must not push out the
// databases' tokens.
const memoMinToken = 64 << 10

// memoTokens bounds the memo (each entry keeps its token's bytes, ~9 MB
// per GB of database, which its references are views of where the host
// allows): a new version replaces the one it was made from, so this is
// the number of large databases a cycle can keep decoded.
const memoTokens = 3

// tokenMemo keeps the last large tokens decoded. An entry is found by its
// bytes: first by identity (the very slice it was made from or found by,
// as the file cache hands it back each cycle: no comparison), else
// compared in full. Tokens are never modified once made (the file cache
// keeps them as they are): that is what lets the memo share the caller's
// bytes instead of keeping a copy.
//
// A token the store made is amended in place: the next version's token is
// appended in the spare capacity of the same buffer. That never writes a
// byte of a token handed out, because only the entry marked top may do it:
// its bytes are the store's own buffer and the longest token made in it.
// The mark moves to the longer token, and is lost for good when the entry
// leaves the memo or is found by other bytes.
type tokenMemo struct {
	mu      sync.Mutex
	entries []memoEntry // oldest first
}

type memoEntry struct {
	bytes []byte
	tok   *fileToken
	top   bool
}

// sameSlice reports whether a and b are the same bytes in memory.
func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && unsafe.SliceData(a) == unsafe.SliceData(b)
}

// get returns the decoded token of p, from the memo when it holds p.
func (m *tokenMemo) get(p []byte) (*fileToken, error) {
	if len(p) >= memoMinToken {
		m.mu.Lock()
		for i := range m.entries {
			e := &m.entries[i]
			if sameSlice(e.bytes, p) {
				m.mu.Unlock()
				return e.tok, nil
			}
		}
		for i := range m.entries {
			e := &m.entries[i]
			if bytes.Equal(e.bytes, p) {
				// Found by p from now on (a cache read back from disk
				// holds its own copy); p is not the store's to extend.
				// The entry's references stay views of the bytes it was
				// made from, which they keep alive beside p: two copies
				// for this chain of versions, as before views. The
				// daemon hands back the very slice, so it never comes
				// here.
				e.bytes, e.top = p, false
				m.mu.Unlock()
				return e.tok, nil
			}
		}
		m.mu.Unlock()
	}
	return decodeToken(p)
}

// amend returns prev with the amendment a appended: t's token, made from
// from's (prev). In place when from's entry is the top of its buffer and
// has room, else in a new buffer with room for the amendments to come,
// where t's references that were views of prev become views of it. t
// must not be shared yet.
func (m *tokenMemo) amend(prev []byte, a []byte, t, from *fileToken) []byte {
	n := len(prev) + len(a)
	if n < memoMinToken {
		return append(append(make([]byte, 0, n), prev...), a...)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.entries {
		e := &m.entries[i]
		if e.tok == from && e.top && sameSlice(e.bytes, prev) && cap(prev)-len(prev) >= len(a) {
			p := append(prev, a...)
			*e = memoEntry{bytes: p, tok: t, top: true}
			return p
		}
	}
	// Room for a chain of amendments (MaxPatchChain of them, each with
	// its patch list) before a full version starts a new buffer.
	p := make([]byte, 0, n+n/16+64<<10)
	p = append(append(p, prev...), a...)
	t.refs = rebase(t.refs, prev, p)
	m.putLocked(p, t, from, true)
	return p
}

// put remembers that p decodes to t, in place of from's entry if the memo
// holds it (the version t was made from is unlikely to be asked for
// again). Neither p nor t may be modified afterwards. own says p is a
// buffer the store made and handed out only as p.
func (m *tokenMemo) put(p []byte, t, from *fileToken, own bool) {
	if len(p) < memoMinToken {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.putLocked(p, t, from, own)
}

func (m *tokenMemo) putLocked(p []byte, t, from *fileToken, own bool) {
	slot := -1
	for i, e := range m.entries {
		if e.tok == t {
			return // a hit, put back
		}
		if from != nil && e.tok == from {
			slot = i
		}
	}
	e := memoEntry{bytes: p, tok: t, top: own}
	switch {
	case slot >= 0:
		if old := m.entries[slot]; sameSlice(old.bytes, p) {
			e.top = old.top // the same version again: still the top
		}
		m.entries[slot] = e
	case len(m.entries) == memoTokens:
		copy(m.entries, m.entries[1:])
		m.entries[len(m.entries)-1] = e
	default:
		m.entries = append(m.entries, e)
	}
}
