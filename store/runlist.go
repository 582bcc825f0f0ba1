package store

import (
	"fmt"

	"github.com/chatsafe/chatsafe/crypt"
)

// Run lists (blob type 8, trailer version 7): a list of chunk references
// that names consecutive members of a group as one run, the group's id,
// the first member's position and a count, instead of a 36-byte reference
// a page. The index names every member already (its id and length), so a
// run costs ~35 bytes for up to a group's pages (32, or 64 past a
// delta's first 32 MiB of groups). A reader resolves a run through
// the index (group id → its entry → its members, in trailer order) into
// exactly the references a plain list would hold: every consumer of lists
// still sees one reference a page, each page is still checked against its
// member id, and a group's id is the keyed hash of its members' ids, so
// the chain list → group → page stays authenticated (docs/format.md,
// "Run lists").

// runListChunks is how many references a run list holds at most (a
// reader's limit): four plain lists' worth, so that a run list's seal and
// index entry are shared by 256 pages.
const runListChunks = 4 * listChunks

// listItem is one item of a run list: a reference (count 0) or a run of
// count members of group from position first.
type listItem struct {
	ref   ChunkRef
	group crypt.ID
	first int
	count int
}

// A run list: uvarint(n) ‖ n × item; an item is 0 ‖ id ‖ uvarint(len)
// (a reference) or 1 ‖ group id ‖ uvarint(first) ‖ uvarint(count) (a run).
func encodeRunList(items []listItem) []byte {
	e := &encoder{}
	e.uvarint(uint64(len(items)))
	for _, it := range items {
		if it.count == 0 {
			e.byte1(0)
			e.raw(it.ref.ID[:])
			e.uvarint(uint64(it.ref.Len))
			continue
		}
		e.byte1(1)
		e.raw(it.group[:])
		e.uvarint(uint64(it.first))
		e.uvarint(uint64(it.count))
	}
	return e.b
}

// groupSource returns the members of the group id, false if no live
// delta holds it.
type groupSource func(id crypt.ID) ([]blobEntry, bool)

// decodeRunList decodes a run list, resolving each run through groups;
// seen, if set, is told each group a run names.
func decodeRunList(p []byte, groups groupSource, seen func(crypt.ID)) ([]ChunkRef, error) {
	return decodeRunListInto(p, groups, seen, nil)
}

// decodeRunListInto is decodeRunList into dst's array while the
// references fit its capacity (readLists' slot for the list).
func decodeRunListInto(p []byte, groups groupSource, seen func(crypt.ID), dst []ChunkRef) ([]ChunkRef, error) {
	d := &decoder{b: p}
	n := d.count(1 + 32 + 1)
	if n > runListChunks {
		d.fail("a run list of too many items")
	}
	refs := dst[:0]
	if dst == nil {
		refs = make([]ChunkRef, 0, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		switch d.byte1() {
		case 0:
			if len(refs) >= runListChunks {
				d.fail("a run list past its limit of references")
				break
			}
			id := d.id()
			l := d.uvarint()
			if l > 1<<31 {
				d.fail("chunk too large")
			}
			refs = append(refs, ChunkRef{ID: id, Len: uint32(l)})
		case 1:
			gid := crypt.ID(d.id())
			first, count := d.uvarint(), d.uvarint()
			if d.err != nil {
				break
			}
			if count == 0 || len(refs) >= runListChunks || count > uint64(runListChunks-len(refs)) {
				d.fail("a run of no pages, or past the list's limit")
				break
			}
			members, ok := groups(gid)
			if !ok {
				return nil, fmt.Errorf("%w: a run names group %s, which no live delta holds", errMalformed, gid)
			}
			if first > uint64(len(members)) || count > uint64(len(members))-first {
				d.fail(fmt.Sprintf("a run past the members of group %s", gid))
				break
			}
			if seen != nil {
				seen(gid)
			}
			for _, m := range members[first : first+count] {
				refs = append(refs, ChunkRef{ID: m.ID, Len: m.RawLen})
			}
		default:
			d.fail("unknown list item")
		}
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	return refs, nil
}

// groupOf returns the members of the group id as the index holds it.
func (r *Store) groupOf(id crypt.ID) ([]blobEntry, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, members, ok := r.index.group(id)
	return members, ok
}

// memberAt is where a page is a group's member: the group's id, the
// page's position among its members and its length.
type memberAt struct {
	group crypt.ID
	pos   int
	len   uint32
}

// memberOf finds the group appended blob id is a member of in w.
func (w *deltaWriter) memberOf(id crypt.ID) (memberAt, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.claims.pos(w.blobs, &id)
	if p < 0 || !w.blobs[p].isMember() {
		return memberAt{}, false
	}
	g := int(w.blobs[p].Ref)
	return memberAt{w.blobs[g].ID, p - g - 1, w.blobs[p].RawLen}, true
}

// memberOfLocked finds the group blob id is a member of: in the delta
// being written, the one being committed, or the repository. Hold hasMu.
func (b *Writer) memberOfLocked(id crypt.ID) (memberAt, bool) {
	for _, w := range [...]*deltaWriter{b.cur.Load(), b.sealing} {
		if w != nil {
			if m, ok := w.memberOf(id); ok {
				return m, true
			}
		}
	}
	b.r.mu.RLock()
	defer b.r.mu.RUnlock()
	g, pos, l, ok := b.r.index.memberOf(id)
	return memberAt{g, pos, l}, ok
}

// runItems returns refs as the items of a run list, consecutive members
// of a group as one run, or nil when no two are (plain lists are then
// smaller). A page still on its way to a delta, or on its own, stays a
// reference.
func (b *Writer) runItems(refs []ChunkRef) []listItem {
	b.hasMu.Lock()
	defer b.hasMu.Unlock()
	var items []listItem
	runs := false
	prev := memberAt{pos: -2}
	for _, ref := range refs {
		m, ok := b.memberOfLocked(ref.ID)
		if !ok || m.len != ref.Len {
			items = append(items, listItem{ref: ref})
			prev = memberAt{pos: -2}
			continue
		}
		if len(items) > 0 && m.group == prev.group && m.pos == prev.pos+1 {
			last := &items[len(items)-1]
			if last.count == 0 {
				// The previous reference starts the run.
				*last = listItem{group: m.group, first: prev.pos, count: 1}
			}
			last.count++
			runs = true
		} else {
			items = append(items, listItem{ref: ref})
		}
		prev = m
	}
	if !runs {
		return nil
	}
	return items
}
