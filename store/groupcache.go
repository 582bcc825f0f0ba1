package store

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"

	"github.com/chatsafe/chatsafe/crypt"
)

// A mount (or browse, or a base) reads a database a few pages at a time:
// SQLite reads one 4 KiB page of a B-tree, then another. Each such read
// of a page in a group would read and decompress its whole group (up to
// 64 pages) again. The store keeps the plaintext of the groups small
// reads opened last, shared by the FUSE server's concurrent readers.
// A small read is any fetch of at most smallFetch ids, whoever asks: a
// mount's, browse's, and also a restore's of a small file or a read of a
// few lists. Those gain from the cache or, at worst, copy a few groups
// into it (it holds at most 4 MiB); a restore of a larger file fetches
// its pages in one call, plans a group's members together, opens each
// group once and does not go through it.

const (
	// groupCacheSlots is how many groups the cache keeps (at most 4 MiB
	// of plaintext): enough for several readers, each in its own groups.
	groupCacheSlots = 16
	// smallFetch is the largest fetch the cache serves and fills: a
	// read of up to 256 KiB of pages (FUSE's reads are at most 128 KiB);
	// a restore fetches a database's pages in one call.
	smallFetch = 64
)

// smallFetchKey carries, in a fetch's context, whether the read that
// started it was small: the fetches of its bases inherit it.
type smallFetchKey struct{}

// groupCache is a small LRU of groups' plaintexts, by group id: the id
// binds the plaintext (it is what the group was authenticated under), and
// a reader still checks each page it takes against the page's own id.
type groupCache struct {
	mu    sync.Mutex
	slots []cachedGroup // least recently used first
	// Pages read from groups, and groups decompressed, by every reader
	// (Stats).
	reads, decodes atomic.Int64
}

type cachedGroup struct {
	id    crypt.ID
	plain []byte // never changed once cached
}

// get returns group id's plaintext when the cache holds it.
func (c *groupCache) get(id crypt.ID) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, g := range c.slots {
		if g.id == id {
			copy(c.slots[i:], c.slots[i+1:])
			c.slots[len(c.slots)-1] = g
			return g.plain
		}
	}
	return nil
}

// add keeps plain as group id's plaintext, dropping the least recently
// used group when the cache is full. Two readers that missed the same
// group both open it; the second add is a no-op.
func (c *groupCache) add(id crypt.ID, plain []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range c.slots {
		if g.id == id {
			return
		}
	}
	if len(c.slots) == groupCacheSlots {
		c.slots = append(c.slots[:0], c.slots[1:]...)
	}
	c.slots = append(c.slots, cachedGroup{id: id, plain: plain})
}

// readMember reads member loc on its own, through the cache of groups.
func (r *Store) readMember(ctx context.Context, loc blobLoc) ([]byte, error) {
	g := loc.sealedEntry()
	if plain := r.groups.get(g.ID); plain != nil {
		return r.memberAppend(loc, plain, nil)
	}
	sealed, err := r.readRange(ctx, loc.d, int64(g.Offset), int64(g.SealedLen))
	if err != nil {
		return nil, err
	}
	defer putRangeBuf(sealed)
	plain, err := r.openGroup(ctx, blobLoc{d: loc.d, entry: g}, sealed, &openScratch{}, nil, nil)
	if err != nil {
		return nil, err
	}
	r.groups.add(g.ID, plain)
	return r.memberAppend(loc, plain, nil)
}

// afterCacheMiss, when set (by a test), runs after an id a small fetch
// did not find in the cache: another reader may cache its group then.
var afterCacheMiss func(id crypt.ID)

// fetchCached hands fn, one blob at a time, the pages of a small fetch
// whose groups the cache holds, and returns the ids left to fetch.
func (r *Store) fetchCached(ids blobIDs, fn func(fr *fetchRange, b *Batch) error) (idSlice, error) {
	var rest idSlice
	// Every id is decided once, served or left to fetch: a repeat of an
	// id that missed must not be served by a group another reader cached
	// since (it would be handed over twice).
	var done map[crypt.ID]bool
	for i := range ids.Len() {
		id := ids.At(i)
		if done[id] {
			continue
		}
		if done == nil {
			done = map[crypt.ID]bool{}
		}
		done[id] = true
		r.mu.RLock()
		loc, ok := r.index.get(id)
		r.mu.RUnlock()
		var plain []byte
		if ok && loc.entry.isMember() {
			plain = r.groups.get(loc.sealedEntry().ID)
		}
		if plain == nil {
			rest = append(rest, id)
			if afterCacheMiss != nil {
				afterCacheMiss(id)
			}
			continue
		}
		out, err := r.memberAppend(loc, plain, nil)
		if err != nil {
			return nil, err
		}
		if err := fn(&fetchRange{d: loc.d, plain: len(out), locs: []blobLoc{loc}}, &Batch{Data: out, IDs: []crypt.ID{id}, Ends: []int{len(out)}}); err != nil {
			return nil, err
		}
	}
	return rest, nil
}

// cacheGroup keeps a copy of group id's plaintext, opened by a small
// fetch into a scratch buffer it reuses.
func (r *Store) cacheGroup(id crypt.ID, plain []byte) {
	r.groups.add(id, bytes.Clone(plain))
}
