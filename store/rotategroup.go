package store

import (
	"context"
	"fmt"

	"github.com/chatsafe/chatsafe/crypt"
)

// A key rotation carries groups whole: a run list names a group by id and
// its members by position (runlist.go), so a group re-sealed member by
// member would leave such lists naming nothing. Its payload is opened with
// the old key and sealed with the new one, unchanged (same id, compression
// and dictionary, which is re-sealed as a blob).

// carriedGroups returns the groups of d a rotation carries whole, by
// index in its trailer: those runs resolve to, and those a member of
// which is read from here; and the members they carry. Hold r.mu.
func (r *Store) carriedGroups(d *delta) (map[int]bool, map[*blobEntry]bool) {
	groups, members := map[int]bool{}, map[*blobEntry]bool{}
	blobs := d.trailer.Blobs
	for i := range blobs {
		e := &blobs[i]
		if e.Type != blobGroup {
			continue
		}
		ms := groupMembers(blobs, i)
		carry := false
		if gl, _, _ := r.index.group(e.ID); gl.entry == e {
			carry = true
		}
		for k := range ms {
			carry = carry || r.index.at(ms[k].ID) == &ms[k]
		}
		if carry {
			groups[i] = true
			for k := range ms {
				members[&ms[k]] = true
			}
		}
	}
	return groups, members
}

// carryGroups re-seals the groups of d in carry, whole, into the
// rotation's deltas. It reads (and verifies) d whole.
func (rw *resealer) carryGroups(ctx context.Context, d *delta, carry map[int]bool) error {
	if len(carry) == 0 {
		return nil
	}
	r := rw.r
	return r.forEachBlob(ctx, d, func(i int, e *blobEntry, sealed []byte) error {
		if !carry[i] {
			return nil
		}
		payload, err := r.aead.Open(nil, sealed, crypt.AssociatedData(adBlob, r.cfg.RepoID, e.ID[:]))
		if err != nil {
			return integrityErr(d.ref.name(), fmt.Sprintf("group %s cannot be authenticated", e.ID), err)
		}
		resealed := rw.ns.aead.Seal(nil, payload, crypt.AssociatedData(adBlob, rw.ns.cfg.RepoID, e.ID[:]))
		full, err := rw.addGroup(e, d.trailer, groupMembers(d.trailer.Blobs, i), resealed)
		if full != nil {
			if uerr := rw.upload(ctx, full); err == nil {
				err = uerr
			}
		}
		return err
	})
}

// addGroup appends a re-sealed group and its members as add does a blob.
func (rw *resealer) addGroup(g *blobEntry, from *trailer, members []blobEntry, sealed []byte) (*delta, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	full, err := rw.roomFor(len(sealed), len(members)+1)
	if err != nil {
		return full, err
	}
	return full, rw.w.addGroupSealed(g, from, members, sealed)
}
