package check

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/chatsafe/chatsafe/store"
)

// A device reads its first remote and uploads every delta to every
// remote, so every other remote should hold the first one's history: the
// same live deltas, less those still waiting in this device's spool. Run
// checks each remote on its own (a fork there, a damaged object); Compare
// then says how another remote differs from the first.

// ErrDiverged means a remote's history is not the first remote's: it lacks
// live deltas that no upload will bring, or holds deltas the first one's
// history does not have.
var ErrDiverged = errors.New("the remote's history differs from the first remote's")

// Compared is what Compare found.
type Compared struct {
	// Pending are the live deltas the remote lacks that wait in this
	// device's spool to be uploaded there: no error.
	Pending []string
	// Missing are the live deltas the remote lacks that are not in the
	// spool: its newest snapshots cannot be restored from it.
	Missing []string
	// Foreign are the deltas live on the remote, at or past the first one
	// it lacks, that the first remote's history does not have: another
	// device commits there, or the first remote lost them.
	Foreign []store.DeltaInfo
	// Hidden are the deltas live on the remote that the first remote's
	// history lacks only because the first remote is damaged: it lists
	// them past the damage, or its damage names them (lost or damaged
	// there). The same history, intact here: no error of this remote's
	// (the first remote's check says what repair does).
	Hidden []store.DeltaInfo
	Errors []error
}

// Compare compares other, a store opened with no local state on a remote
// other than the first, with first, the store the device reads (whose
// live deltas include those waiting in its spool).
//
// The device may commit and upload while check runs, so each side is
// read after the other changed: the deltas other shows as it was checked
// are compared with first re-read afterwards (a delta committed between
// is then this device's, not another history), and what first holds then
// with other listed again (a delta uploaded between is then held).
func Compare(ctx context.Context, first, other Store) (*Compared, error) {
	c := &Compared{}
	live2 := other.LiveDeltas()
	if err := first.Refresh(ctx); err != nil {
		return c, fmt.Errorf("re-reading the first remote to compare with it: %w", err)
	}
	if err := other.Refresh(ctx); err != nil {
		return c, fmt.Errorf("listing the remote again to compare it with the first: %w", err)
	}
	live1 := first.LiveDeltas()
	inFirst := make(map[string]bool, len(live1))
	for _, d := range live1 {
		inFirst[d.Name] = true
	}
	// What the remote lists now: its live deltas and the rest (garbage,
	// among them a damaged delta its store skipped: held, so no sync
	// copies it there until it is deleted).
	held := map[string]bool{}
	for _, d := range other.LiveDeltas() {
		held[d.Name] = true
	}
	for _, n := range other.Stats().Garbage {
		held[n] = true
	}
	var lackFrom uint64
	for _, d := range live1 {
		if held[d.Name] {
			continue
		}
		if lackFrom == 0 || d.Seq < lackFrom {
			lackFrom = d.Seq
		}
		if d.SpoolPath != "" {
			c.Pending = append(c.Pending, d.Name)
		} else {
			c.Missing = append(c.Missing, d.Name)
		}
	}
	// Below the first delta it lacks, the remote may still show an older
	// state of the same history (deltas a compaction waiting in the spool
	// replaces); from there on, a delta the first remote's history does
	// not have is another history.
	for _, d := range live2 {
		if !inFirst[d.Name] && (lackFrom == 0 || d.Seq >= lackFrom) {
			c.Foreign = append(c.Foreign, d)
		}
	}
	c.Foreign, c.Hidden = hiddenByDamage(first, c.Foreign)
	if len(c.Missing) > 0 {
		c.Errors = append(c.Errors, missingErr(first, c.Missing))
	}
	if len(c.Foreign) > 0 {
		c.Errors = append(c.Errors, foreignErr(first, other, c.Foreign))
	}
	return c, nil
}

// hiddenByDamage splits foreign, deltas the first remote's history does
// not have, into those that are another history and those its damage
// hides: deltas the first remote lists outside its history read, or that
// its damage names. The same name is the same delta (its id is random and
// sealed with it), so these are the first remote's own history.
func hiddenByDamage(first Store, foreign []store.DeltaInfo) (other, hidden []store.DeltaInfo) {
	dmg := first.Damage()
	if dmg == nil {
		return foreign, nil
	}
	behind := map[string]bool{}
	for _, name := range first.Stats().Garbage {
		behind[name] = true
	}
	for _, d := range dmg.Damage {
		behind[d.Object] = true
	}
	for _, d := range foreign {
		if behind[d.Name] {
			hidden = append(hidden, d)
		} else {
			other = append(other, d)
		}
	}
	return other, hidden
}

// missingErr names the live deltas the remote lacks, and what copies them
// there.
func missingErr(first Store, missing []string) error {
	n, names := len(missing), strings.Join(missing, ", ")
	if to := first.TakenOver(); to != nil {
		// This device's sync stops, taken over: only the new writer
		// could copy them, and it does not upload there.
		who := to.Hostname
		if who == "" {
			who = fmt.Sprintf("device %x", to.Device[:4])
		}
		return fmt.Errorf("%w: it lacks %d live %s of the first remote's history: %s (its newest snapshots cannot be restored from it; this device was taken over: another device (%s) writes the repository now and does not upload to this remote, and this device uploads nothing more; add this remote to that device's config, or remove it from this one)",
			ErrDiverged, n, plural(n, "delta", "deltas"), names, who)
	}
	return fmt.Errorf("%w: it lacks %d live %s that this device's spool no longer holds: %s (its newest snapshots cannot be restored from it; a sync that lists it afresh, `chatsafe backup` when no daemon runs or the daemon's next start, copies them from the first remote)",
		ErrDiverged, n, plural(n, "delta", "deltas"), names)
}

// foreignErr names the deltas only other's history has, and who wrote its
// head when that is one of them.
func foreignErr(first, other Store, foreign []store.DeltaInfo) error {
	names := make([]string, len(foreign))
	for i, d := range foreign {
		names[i] = d.Name
	}
	var by string
	if h := other.HeadRef(); h.Seq > 0 {
		for _, d := range foreign {
			if d.Seq == h.Seq {
				by = fmt.Sprintf("; its head, sequence %d, was written by device %x", h.Seq, h.Device[:4])
				if host := hostOf(other.Snapshots(), h.Seq); host != "" {
					by += fmt.Sprintf(" (%s)", host)
				}
				break
			}
		}
	}
	var only []string
	seen := map[[16]byte]bool{}
	for _, s := range first.Snapshots() {
		seen[s.ID] = true
	}
	for _, s := range other.Snapshots() {
		if !seen[s.ID] {
			only = append(only, s.ShortID())
		}
	}
	msg := fmt.Sprintf("it holds %d %s the first remote's history does not: %s%s", len(foreign), plural(len(foreign), "delta", "deltas"), strings.Join(names, ", "), by)
	if len(only) > 0 {
		msg += fmt.Sprintf(", and %d %s only it has: %s", len(only), plural(len(only), "snapshot", "snapshots"), strings.Join(only, " "))
	}
	return fmt.Errorf("%w: %s (another device writes there, or the first remote lost them; see docs/switching-devices.md)", ErrDiverged, msg)
}

func hostOf(snaps []store.Snapshot, seq uint64) string {
	for _, s := range snaps {
		if s.Seq == seq {
			return s.Hostname
		}
	}
	return ""
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
