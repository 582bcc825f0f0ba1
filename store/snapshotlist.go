package store

import "fmt"

// Snapshots returns the committed snapshots, oldest first.
func (r *Store) Snapshots() []Snapshot {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]Snapshot(nil), r.snapshots...)
}

// LatestSnapshot returns the newest committed snapshot, if any, without
// copying the list (the daemon answers every status request with it).
func (r *Store) LatestSnapshot() (Snapshot, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.snapshots) == 0 {
		return Snapshot{}, false
	}
	return r.snapshots[len(r.snapshots)-1], true
}

// HeadSeq is the sequence number of the newest delta (0 for an empty repository).
func (r *Store) HeadSeq() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.head == nil {
		return 0
	}
	return r.head.ref.Seq
}

// FindSnapshot finds a snapshot by id or unique id prefix; "" or "latest"
// is the newest.
func (r *Store) FindSnapshot(id string) (Snapshot, error) {
	snaps := r.Snapshots()
	if len(snaps) == 0 {
		return Snapshot{}, fmt.Errorf("%w: the repository has no snapshots yet (run %s)", ErrSnapshotNotFound, r.cmd("backup"))
	}
	if id == "" || id == "latest" {
		return snaps[len(snaps)-1], nil
	}
	var found []Snapshot
	for _, s := range snaps {
		if len(id) <= 32 && s.IDString()[:len(id)] == id {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return Snapshot{}, fmt.Errorf("%w: no snapshot %q (list them with %s)", ErrSnapshotNotFound, id, r.cmd("snapshots"))
	case 1:
		return found[0], nil
	default:
		return Snapshot{}, fmt.Errorf("%w: %q matches %d snapshots; give more digits", ErrSnapshotNotFound, id, len(found))
	}
}
