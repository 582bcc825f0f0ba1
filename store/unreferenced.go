package store

import "sort"

// What lies under deltas/ besides the history read. An object there that
// no live delta lists is not always a prune's leftover: behind damage it
// is most often history a reader cannot reach yet, and that is what the
// user needs told (check prints it).

// UnrefKind says why an object under deltas/ is not part of the history
// read.
type UnrefKind int

const (
	// UnrefSuperseded is a delta older than the head that none of its
	// deltas lists: replaced by a compaction, or left by an interrupted
	// prune (prune deletes it, once nothing is damaged).
	UnrefSuperseded UnrefKind = iota
	// UnrefPastDamage is a delta newer than the newest intact head whose
	// own trailer is intact: history past a missing or damaged delta that
	// no intact head pins (repair copies back what it lacks from another
	// remote, or else moves it to damaged/).
	UnrefPastDamage
	// UnrefDamaged is an object named like a delta that cannot be read or
	// is not the delta a head pins: damaged, truncated, replaced, or no
	// chatsafe delta at all (repair moves it to damaged/).
	UnrefDamaged
	// UnrefAhead is a delta at or past the head, with nothing damaged,
	// that the head does not list: another device's (prune never deletes
	// it).
	UnrefAhead
	// UnrefUnknown is a file not named like a delta: chatsafe neither
	// reads nor deletes it.
	UnrefUnknown
)

// Unreferenced is an object under deltas/ outside the history read.
type Unreferenced struct {
	Name string
	Kind UnrefKind
}

// Unreferenced lists the objects under deltas/ on the remote that the
// history read does not hold, by name, saying what each is.
func (r *Store) Unreferenced() []Unreferenced {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var headSeq uint64
	if r.head != nil {
		headSeq = r.head.ref.Seq
	}
	// The objects the load found wanting: a head whose own trailer fails,
	// a delta a head pins that does not open or is not the one pinned. A
	// damage without a skipped head is a rollback's, naming a head this
	// device saw, or the commit check's, read again before repair.
	damaged := map[string]bool{}
	for _, d := range r.damage {
		if d.Skipped != "" {
			damaged[d.Object] = true
		}
	}
	out := make([]Unreferenced, 0, len(r.garbage)+len(r.strays))
	for _, name := range r.garbage {
		seq, _, _ := parseDeltaName(name)
		kind := UnrefSuperseded
		switch {
		case damaged[name]:
			kind = UnrefDamaged
		case seq > headSeq && len(r.damage) > 0:
			kind = UnrefPastDamage
		case seq >= headSeq:
			kind = UnrefAhead
		}
		out = append(out, Unreferenced{Name: name, Kind: kind})
	}
	for _, name := range r.strays {
		out = append(out, Unreferenced{Name: name, Kind: UnrefUnknown})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
