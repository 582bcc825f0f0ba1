package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/chatsafe/chatsafe/crypt"
)

// Groups (trailer version 6): consecutive new pages of a database
// (a first backup, pages new to the file) are concatenated, compressed
// as one zstd frame with the page dictionary and sealed once, as a blob
// of type blobGroup. Each page keeps its own keyed id and its own index
// entry, a member (compGroup), so snapshots, lists, deduplication and
// prune still see pages; a member's entry holds only its id, type and
// length, and follows its group's entry: the members tile the group's
// plaintext in order. A reader of a member opens its group and checks the
// member's slice against the member's id (docs/format.md, "Groups").

const (
	// maxGroupPlain caps a group's plaintext: with the largest dictionary
	// (256 KiB) it fits the dictionary encoders' window, so the frame
	// finds every match a page's own frame would.
	maxGroupPlain = 256 << 10
	// groupPages is how many pages the writer puts in one group of a
	// delta's first groupBulkAfter bytes of groups (bulkGroupPages past
	// them): 32 restores the dictionary's tables half as often as 16 did, for
	// 10 % less of the groups' CPU and 0.1 % fewer bytes, and a read of
	// one page decodes 128 KiB (docs/benchmarks.md, "Pages sealed in
	// groups", "First backup, fifth round").
	groupPages = 32
	// minIndexEntry is the smallest index entry: a member's, with a
	// one-byte length.
	minIndexEntry = 32 + 1 + 1 + 1
)

// groupFill follows a trailer's decoding through a group's members.
type groupFill struct {
	at   int    // the open group's index in Blobs, -1 when none
	fill uint64 // plaintext bytes of it its members took so far
}

// start opens group b, the entry at index i.
func (g *groupFill) start(d *decoder, i int, b *blobEntry, version byte) {
	switch {
	case version < 6:
		d.fail("a group in a trailer older than version 6")
	case b.Comp == compZstdBase:
		d.fail("a group compressed on a base")
	case b.RawLen == 0 || b.RawLen > maxGroupPlain:
		d.fail("a group larger than the format's limit")
	}
	g.at, g.fill = i, 0
}

// member decodes the rest of member b's entry and places it in its group.
func (g *groupFill) member(d *decoder, blobs []blobEntry, b *blobEntry, version byte) {
	n := d.uvarint()
	if d.err != nil {
		return
	}
	if version < 6 || b.Type != blobData {
		d.fail("unknown blob type or compression")
		return
	}
	if g.at < 0 {
		d.fail("a group member follows no group")
		return
	}
	grp := &blobs[g.at]
	if n == 0 || n > uint64(grp.RawLen)-g.fill {
		d.fail("a group member lies beyond its group")
		return
	}
	b.Ref, b.Offset, b.RawLen = uint32(g.at), g.fill, uint32(n)
	g.fill += n
	if g.fill == uint64(grp.RawLen) {
		g.at = -1
	}
}

// isMember reports whether e is a slice of a group.
func (e *blobEntry) isMember() bool { return e.Comp == compGroup }

// sealedEntry is the entry of the sealed piece loc's blob is read from:
// its group's for a member, its own otherwise.
func (loc blobLoc) sealedEntry() *blobEntry {
	if loc.entry.isMember() {
		return &loc.d.trailer.Blobs[loc.entry.Ref]
	}
	return loc.entry
}

// dict returns the dictionary or base the sealed piece loc's blob is read
// from was compressed with; false if none.
func (loc blobLoc) dict() (crypt.ID, bool) {
	return loc.d.trailer.dictOf(loc.sealedEntry())
}

// groupMembers returns the members of the group at index i of blobs.
func groupMembers(blobs []blobEntry, i int) []blobEntry {
	j := i + 1
	for j < len(blobs) && blobs[j].isMember() && blobs[j].Ref == uint32(i) {
		j++
	}
	return blobs[i+1 : j]
}

// sealedEnd is where the last sealed blob of t ends: where its padding
// starts.
func (t *trailer) sealedEnd() uint64 {
	for i := len(t.Blobs) - 1; i >= 0; i-- {
		if e := &t.Blobs[i]; !e.isMember() {
			return e.Offset + uint64(e.SealedLen)
		}
	}
	return 0
}

// openGroup authenticates and decompresses the group at loc (loc.entry
// is the group's own entry) into dst; given its members it also checks
// the group's id against them (check does: a reader checks each member
// it takes). A damaged group is every member of it damaged: the error
// names them.
func (r *Store) openGroup(ctx context.Context, loc blobLoc, sealed []byte, s *openScratch, dst []byte, members []blobEntry) ([]byte, error) {
	g := loc.entry
	name := loc.d.ref.name()
	if g.Type != blobGroup || g.RawLen > maxGroupPlain {
		return nil, integrityErr(name, fmt.Sprintf("blob %s is named as a group but is not one", g.ID), nil)
	}
	r.groups.decodes.Add(1)
	out, err := r.openPayload(ctx, loc, sealed, s, dst)
	if err != nil {
		return nil, fmt.Errorf("%w; it is a group: so are its pages %s", err, memberNames(loc))
	}
	if members != nil && r.groupID(members) != g.ID {
		return nil, integrityErr(name, fmt.Sprintf("group %s does not match its members' ids", g.ID), nil)
	}
	return out, nil
}

// memberNames lists the members of the group at loc, for an error.
func memberNames(loc blobLoc) string {
	var b strings.Builder
	for k, m := range groupMembers(loc.d.trailer.Blobs, groupIndex(loc)) {
		if k > 0 {
			b.WriteString(", ")
		}
		b.WriteString(m.ID.String())
	}
	return b.String()
}

// memberAppend appends member loc's plaintext, its slice of its group's
// plaintext, to dst, checking it against the member's keyed id.
func (r *Store) memberAppend(loc blobLoc, group, dst []byte) ([]byte, error) {
	plain, err := r.member(loc, group)
	if err != nil {
		return nil, err
	}
	return append(dst, plain...), nil
}

// member is member loc's slice of its group's plaintext, checked against
// the member's keyed id.
func (r *Store) member(loc blobLoc, group []byte) ([]byte, error) {
	e := loc.entry
	end := e.Offset + uint64(e.RawLen)
	if end > uint64(len(group)) {
		return nil, integrityErr(loc.d.ref.name(), fmt.Sprintf("blob %s lies beyond its group", e.ID), nil)
	}
	r.groups.reads.Add(1)
	plain := group[e.Offset:end]
	if r.ids.Sum(plain) != e.ID {
		return nil, integrityErr(loc.d.ref.name(), fmt.Sprintf("blob %s (in group %s) does not match its id", e.ID, loc.sealedEntry().ID), nil)
	}
	return plain, nil
}

// wholeGroup is how many of locs, from the first, are every member of
// one group in order (0 when locs does not start so): a fetch that takes
// a whole group opens it into its batch, where its members then lie in
// order (openGroupInto), instead of into a scratch buffer to copy each
// member out of.
func wholeGroup(locs []blobLoc) int {
	// Only a group's first member starts at 0 (members are never empty).
	if len(locs) == 0 || !locs[0].entry.isMember() || locs[0].entry.Offset != 0 {
		return 0
	}
	members := groupMembers(locs[0].d.trailer.Blobs, int(locs[0].entry.Ref))
	if len(locs) < len(members) {
		return 0
	}
	for k := range members {
		if locs[k].entry != &members[k] {
			return 0
		}
	}
	return len(members)
}

// openGroupInto opens the group whose members are locs, all of them in
// order (wholeGroup), appending its plaintext to dst, and checks each
// member's slice of it against the member's keyed id, as memberAppend
// does.
func (r *Store) openGroupInto(ctx context.Context, locs []blobLoc, sealed []byte, s *openScratch, dst []byte) ([]byte, error) {
	start := len(dst)
	out, err := r.openGroup(ctx, blobLoc{d: locs[0].d, entry: locs[0].sealedEntry()}, sealed, s, dst, nil)
	if err != nil {
		return nil, err
	}
	// The batch's ends are computed from the members' entries: they must
	// tile exactly what was opened (openPayload checked the group's
	// length; this keeps the layout from resting on that alone).
	if last := locs[len(locs)-1].entry; uint64(len(out)-start) != last.Offset+uint64(last.RawLen) {
		return nil, integrityErr(locs[0].d.ref.name(), fmt.Sprintf("group %s opened to %d bytes, its pages end at %d", locs[0].sealedEntry().ID, len(out)-start, last.Offset+uint64(last.RawLen)), nil)
	}
	for _, m := range locs {
		if _, err := r.member(m, out[start:]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// groupLive reports whether any of a group's members, in d, is in used
// and read from here, or the group itself is (a run list names it) and
// runs resolve to this copy: then prune keeps the group, whole.
func (r *Store) groupLive(d *delta, members []blobEntry, used map[crypt.ID]struct{}) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.groupLiveLocked(d, members, used)
}

func (r *Store) groupLiveLocked(d *delta, members []blobEntry, used map[crypt.ID]struct{}) bool {
	if len(members) > 0 {
		// Named by a run list: the copy runs resolve to is kept whole.
		g := &d.trailer.Blobs[members[0].Ref]
		if _, ok := used[g.ID]; ok {
			if gl, _, _ := r.index.group(g.ID); gl.entry == g {
				return true
			}
		}
	}
	for i := range members {
		m := &members[i]
		if _, ok := used[m.ID]; ok {
			if loc, ok := r.index.get(m.ID); ok && loc.d == d && loc.entry == m {
				return true
			}
		}
	}
	return false
}

// addGroupSealed appends a sealed group of trailer from and its members'
// entries (a compaction copies groups whole, without opening them).
func (w *deltaWriter) addGroupSealed(g *blobEntry, from *trailer, members []blobEntry, sealed []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return w.appendEntries(g, dictIn(from, g), members, sealed, true, -1)
}

// groupLevel is the zstd level of a delta's first groups (groupbulk.go
// for the rest): docs/benchmarks.md, "Pages sealed in groups". While it is
// dictLevel, single pages share its encoder.
const groupLevel = zstd.SpeedDefault

// groupEncoder returns d's encoder of groups at groupLevel.
func (d *dictionary) groupEncoder() (*zstd.Encoder, error) {
	return d.encoderAt(groupLevel)
}

// groupDict returns the dictionary groups are compressed with: the
// current one, unless a new one is being made (then pages go alone, and
// are sampled, until it is).
func (r *Store) groupDict() *dictionary {
	s := &r.dicts
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sampling {
		return nil
	}
	return s.cur
}

// groupID is a group's id: the keyed hash of its members' ids in order,
// which binds its seal to exactly those pages (each checked against its
// own id when read) at the cost of hashing 32 bytes a page, not the page.
func (r *Store) groupID(members []blobEntry) crypt.ID {
	ids := make([]byte, 0, 32*len(members))
	for i := range members {
		ids = append(ids, members[i].ID[:]...)
	}
	return r.ids.Sum(ids)
}

// runReservation is the plaintext a run of pages bytes long reserves in
// a delta (reserveN, with the entries runEntries counts): sealed as
// groups it takes a seal a group, sealed page by page (no dictionary
// yet) a seal a page, and reserveN counts one.
func runReservation(bytes, pages int) int {
	return bytes + (pages-1)*crypt.Overhead
}

// runEntries is the index entries a run of pages reserves: one a page,
// and one for each group sealRun may split it into (groupSplit).
func runEntries(pages int) int {
	return pages + (pages+groupPages-1)/groupPages
}

// sealRun hashes a run of pages (job j), claims each for j's delta, and
// seals the ones claimed: as one group or more (groupSplit) when two or
// more are and a dictionary is there, else each on its own as sealNew does. What it
// appends takes its share of the run's reservation (runReservation) in
// the same step; it returns the rest, for releaseN.
func (r *Store) sealRun(j sealJob, sealBuf, scratch *[]byte) (restPlain, restEntries int, err error) {
	buf := *j.buf
	total, pages := len(buf), len(j.lens)
	members := make([]blobEntry, 0, len(j.lens))
	off, keep := 0, 0
	for i, n := range j.lens {
		page := buf[off : off+n]
		id := r.ids.Sum(page)
		*j.slots[i] = ChunkRef{ID: id, Len: uint32(n)}
		if j.claim(j.w, id) {
			// The pages claimed, back to back at buf's start (in a first
			// backup every page is claimed, and each is where it goes).
			if keep != off {
				copy(buf[keep:], page)
			}
			members = append(members, blobEntry{ID: id, Type: blobData, RawLen: uint32(n)})
			keep += n
		}
		off += n
	}
	// Each release (releaseLocked) takes its plaintext and a seal: the
	// run reserved total plus a seal a page, and runEntries entries.
	usedPlain, usedEntries, seals := 0, 0, 0
	rest := func() (int, int) {
		return total + (pages-seals-1)*crypt.Overhead - usedPlain, runEntries(pages) - usedEntries
	}
	var d *dictionary
	if len(members) >= 2 {
		d = r.groupDict()
	}
	if d == nil {
		off = 0
		for _, m := range members {
			one := sealJob{w: j.w, id: m.ID, typ: blobData, buf: j.buf, reserved: true}
			if err := r.sealNew(one, buf[off:off+int(m.RawLen)], sealBuf, scratch); err != nil {
				restPlain, restEntries = rest()
				return restPlain, restEntries, err
			}
			usedPlain, usedEntries, seals = usedPlain+int(m.RawLen), usedEntries+1, seals+1
			off += int(m.RawLen)
		}
		restPlain, restEntries = rest()
		return restPlain, restEntries, nil
	}
	off = 0
	for len(members) > 0 {
		k := j.w.groupSplit(len(members))
		n := 0
		for _, m := range members[:k] {
			n += int(m.RawLen)
		}
		reserved := runReservation(n, k)
		if err = r.sealGroup(j.w, d, buf[off:off+n], members[:k], reserved, sealBuf, scratch); err != nil {
			break
		}
		usedPlain, usedEntries, seals = usedPlain+reserved, usedEntries+k+1, seals+1
		members, off = members[k:], off+n
	}
	restPlain, restEntries = rest()
	return restPlain, restEntries, err
}

// sealGroup compresses plain, the members' plaintexts back to back, with
// d, seals it once and appends it and its members to w.
func (r *Store) sealGroup(w *deltaWriter, d *dictionary, plain []byte, members []blobEntry, reserved int, sealBuf, scratch *[]byte) error {
	enc, err := w.groupEncoder(d, len(plain))
	if err != nil {
		return fmt.Errorf("compressing pages: dictionary %s: %w", d.id, err)
	}
	*scratch = encodeAll(enc, plain, (*scratch)[:0])
	r.noteGroupRatio(d, plain, len(members), int(members[0].RawLen))
	payload, comp, dict := *scratch, compZstdDict, &d.id
	gid := r.groupID(members)
	if len(payload) >= len(plain)-len(plain)/8 {
		payload, comp, dict = plain, compNone, nil
	} else if !d.decodesTo(r, payload, plain, sealBuf) {
		r.spoiledFrame(gid, "a group with a dictionary")
		payload, dict = nil, nil // as without room for the dictionary
	} else if room, err := w.ensureDict(d); err != nil {
		return err
	} else if !room {
		// No room left in this delta for the dictionary: the group goes
		// without it (plain zstd), as a single page would.
		payload, dict = nil, nil
	}
	if payload == nil {
		*sealBuf, comp, *scratch = r.sealBlob((*sealBuf)[:0], gid, plain, false, *scratch)
	} else {
		*sealBuf = r.aead.Seal((*sealBuf)[:0], payload, crypt.AssociatedData(adBlob, r.cfg.RepoID, gid[:]))
	}
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return w.appendEntries(&blobEntry{ID: gid, Type: blobGroup, Comp: comp, RawLen: uint32(len(plain))}, dict, members, *sealBuf, false, reserved)
}

// groupIndex is the index of the group entry loc in its trailer.
func groupIndex(loc blobLoc) int {
	blobs := loc.d.trailer.Blobs
	for i := range blobs {
		if &blobs[i] == loc.entry {
			return i
		}
	}
	return len(blobs)
}
