package store

import (
	"context"
	"fmt"
	"sync"

	"github.com/chatsafe/chatsafe/crypt"
)

// Reading snapshots, for the packages above the store (restore, check,
// prune, and browsing): every blob is authenticated and checked against
// its id before it is returned.

// Tree reads and decodes the directory tree blob id.
func (r *Store) Tree(ctx context.Context, id crypt.ID) ([]Node, error) {
	plain, typ, err := r.readBlob(ctx, id)
	if err != nil {
		return nil, err
	}
	loc := r.Locate(id)
	if typ != blobTree {
		return nil, integrityErr(loc, fmt.Sprintf("blob %s is not a directory", id), nil)
	}
	nodes, err := decodeTree(plain)
	if err != nil {
		return nil, integrityErr(loc, fmt.Sprintf("directory blob %s is malformed", id), err)
	}
	return nodes, nil
}

// Locate names the object holding a blob, for error messages.
func (r *Store) Locate(id crypt.ID) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if loc, ok := r.index.get(id); ok {
		return loc.d.ref.name()
	}
	return "index"
}

// resolveLists returns a file's list ids, reading its list index if it
// has one.
func (r *Store) resolveLists(ctx context.Context, c Content) ([]crypt.ID, error) {
	if c.Index == (crypt.ID{}) {
		return c.Lists, nil
	}
	plain, typ, err := r.readBlob(ctx, c.Index)
	if err != nil {
		return nil, err
	}
	if typ != blobListIndex {
		return nil, integrityErr(r.Locate(c.Index), fmt.Sprintf("blob %s is not a list index", c.Index), nil)
	}
	d := &decoder{b: plain}
	lists := decodeIDs(d)
	if err := d.done(); err != nil || len(lists) == 0 {
		return nil, integrityErr(r.Locate(c.Index), fmt.Sprintf("list index %s is malformed", c.Index), err)
	}
	return lists, nil
}

// ChunkRefs resolves a file's content into its chunk references.
func (r *Store) ChunkRefs(ctx context.Context, c Content) ([]ChunkRef, error) {
	return r.chunkRefs(ctx, c, nil)
}

// chunkRefs is ChunkRefs; seen, if set, is told (concurrently) each group
// the file's run lists name.
func (r *Store) chunkRefs(ctx context.Context, c Content, seen func(crypt.ID)) ([]ChunkRef, error) {
	if !c.isList() {
		return c.Chunks, nil
	}
	lists, err := r.resolveLists(ctx, c)
	if err != nil {
		return nil, err
	}
	refs, err := r.readLists(ctx, lists, seen)
	if err != nil {
		return nil, err
	}
	for _, id := range c.Patches {
		plain, typ, err := r.readBlob(ctx, id)
		if err != nil {
			return nil, err
		}
		if typ != blobPatch {
			return nil, integrityErr(r.Locate(id), fmt.Sprintf("blob %s is not a patch", id), nil)
		}
		total, entries, err := decodePatch(plain)
		if err == nil {
			refs, err = applyPatch(refs, total, entries)
		}
		if err != nil {
			return nil, integrityErr(r.Locate(id), fmt.Sprintf("patch %s is malformed", id), err)
		}
	}
	return refs, nil
}

// readLists reads a file's chunk lists and joins them in order. They are
// fetched together (neighbours in one ranged read, opened on every core):
// a 275 MB database has over a thousand lists, and reading them one by
// one kept its restore waiting for over a second before the first page.
// The writer cuts plain lists at listChunks references and run lists at
// runListChunks (the last may hold fewer), so each list is decoded
// straight into its slot of one slice, sized by its type: decoding them
// apart and joining them held a 1 GB database's references twice (9 MB
// each). A list of another length is decoded on its own and the slice
// rebuilt. seen, if set, is told (concurrently) each group a run list
// names.
func (r *Store) readLists(ctx context.Context, lists []crypt.ID, seen func(crypt.ID)) ([]ChunkRef, error) {
	at := make(map[crypt.ID][]int, len(lists)) // a list may recur (runs of equal pages)
	for i, id := range lists {
		at[id] = append(at[id], i)
	}
	offs, caps := r.listSlots(lists)
	slots := make([]ChunkRef, offs[len(lists)])
	lens := make([]int, len(lists))
	var odd map[int][]ChunkRef // lists longer than their slot, by position
	var mu sync.Mutex
	err := r.fetchLocs(ctx, lists, func(loc blobLoc, plain []byte) error {
		id := loc.entry.ID
		// fetchLocs calls once per distinct id: the first of its places
		// is only written here.
		first := at[id][0]
		slot := slots[offs[first]:offs[first+1]:offs[first+1]]
		var l []ChunkRef
		var err error
		switch loc.entry.Type {
		case blobList:
			l, err = decodeListInto(plain, slot)
		case blobRunList:
			l, err = decodeRunListInto(plain, r.groupOf, seen, slot)
		default:
			return integrityErr(loc.d.ref.name(), fmt.Sprintf("blob %s is not a chunk list", id), nil)
		}
		if err != nil {
			return integrityErr(loc.d.ref.name(), fmt.Sprintf("chunk list %s is malformed", id), err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, i := range at[id] {
			lens[i] = len(l)
			if len(l) > caps[i] {
				if odd == nil {
					odd = map[int][]ChunkRef{}
				}
				odd[i] = l
			} else if i != first {
				copy(slots[offs[i]:], l)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	n, whole := 0, odd == nil
	for i, k := range lens {
		n += k
		whole = whole && (k == caps[i] || i == len(lens)-1)
	}
	if whole {
		return slots[:n:n], nil
	}
	refs := make([]ChunkRef, 0, n)
	for i, k := range lens {
		if l, ok := odd[i]; ok {
			refs = append(refs, l...)
		} else {
			refs = append(refs, slots[offs[i]:offs[i]+k]...)
		}
	}
	return refs, nil
}

// listSlots returns where each list's references go in readLists' slice
// (offs, with the slice's length last) and how many its slot holds: a run
// list's runListChunks, any other's listChunks (an id the index lacks
// fails in the fetch).
func (r *Store) listSlots(lists []crypt.ID) (offs, caps []int) {
	offs, caps = make([]int, len(lists)+1), make([]int, len(lists))
	r.mu.RLock()
	defer r.mu.RUnlock()
	for i, id := range lists {
		caps[i] = listChunks
		if loc, ok := r.index.get(id); ok && loc.entry.Type == blobRunList {
			caps[i] = runListChunks
		}
		offs[i+1] = offs[i] + caps[i]
	}
	return offs, caps
}

// FetchBlobs reads, authenticates and verifies every blob in ids, calling
// fn once per distinct id, concurrently and in no particular order; plain
// is only valid during the call. Neighbouring blobs are fetched in one
// ranged read.
func (r *Store) FetchBlobs(ctx context.Context, ids []crypt.ID, fn func(id crypt.ID, plain []byte) error) error {
	return r.fetchBlobs(ctx, ids, fn)
}

// FetchBatches is FetchBlobs one ranged read at a time: fn gets each
// range's blobs together, their plaintexts back to back in the order they
// are stored (a file written in order comes back in a few large pieces),
// concurrently and in no particular order between batches. Every distinct
// id is in exactly one batch; b is only valid during the call.
func (r *Store) FetchBatches(ctx context.Context, ids []crypt.ID, fn func(b *Batch) error) error {
	return r.fetchBatches(ctx, idSlice(ids), fn)
}

// FetchChunks is FetchBatches of refs' ids, without a copy of them: a
// restore of a large database holds its references already.
func (r *Store) FetchChunks(ctx context.Context, refs []ChunkRef, fn func(b *Batch) error) error {
	return r.fetchBatches(ctx, refIDs(refs), fn)
}

// FirstID is the first blob of the content, to name where it is stored in
// error messages.
func (c Content) FirstID() crypt.ID {
	if c.Index != (crypt.ID{}) {
		return c.Index
	}
	if len(c.Lists) > 0 {
		return c.Lists[0]
	}
	if len(c.Chunks) > 0 {
		return c.Chunks[0].ID
	}
	return crypt.ID{}
}
