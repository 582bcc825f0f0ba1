package store

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
)

// A device that joins continues whatever head it finds when it first
// writes (writerguard.go): a new phone goes on backing up what it has.
// But the old device may have gone on committing after the new one's
// chats were restored, and those snapshots then hold what the new
// device's source lacks. The join point (join.json in the repository's
// state directory) is kept until the first write shows whether the head
// moved, and then until the caller has reported it (TakeJoinGap).

// joinName is the join point's file in the repository's state directory.
const joinName = "join.json"

// joinRecord is join.json: the sequence this device's chats were taken
// at (the snapshot restore --join restored, or the head init --join
// found), and, once it wrote, the head its first delta continued.
type joinRecord struct {
	Seq       uint64 `json:"seq"`
	Continued uint64 `json:"continued,omitempty"`
}

// joinState is the join point as this process knows it (under r.mu).
type joinState struct {
	loaded bool
	rec    *joinRecord // nil: none, or reported
}

// JoinGap is what other devices committed between the sequence this
// device joined at and the head its first delta continued.
type JoinGap struct {
	JoinSeq, HeadSeq uint64
	// Base is the newest snapshot at or before JoinSeq (zero ID if prune
	// has forgotten it): what this device's chats were taken from.
	Base Snapshot
	// Snapshots are the other devices' snapshots of JoinSeq+1 to HeadSeq
	// still listed, oldest first (Device zero where it is not known).
	Snapshots []Snapshot
	// ConfigFlag is appended to the commands it names (Options.ConfigFlag).
	ConfigFlag string
}

// JoinedAt is Joined, recording seq as where this device's chats were
// taken (0: the head it joins at), so that its first write can tell
// whether another device committed since.
func (r *Store) JoinedAt(seq uint64) error {
	if err := r.Joined(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if seq == 0 || seq > headRef(r.head).Seq {
		seq = headRef(r.head).Seq
	}
	r.join = joinState{loaded: true, rec: &joinRecord{Seq: seq}}
	return r.saveJoin()
}

func (r *Store) joinPath() string { return filepath.Join(r.dir(), joinName) }

// loadJoin reads join.json once per process. Called with r.mu held.
func (r *Store) loadJoin() {
	if r.join.loaded || r.dir() == "" {
		return
	}
	r.join.loaded = true
	b, err := os.ReadFile(r.joinPath())
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var rec joinRecord
	if err == nil {
		err = json.Unmarshal(b, &rec)
	}
	if err != nil {
		r.log.Warn("the join point is unreadable; a head another device moved since this device joined goes unreported", zap.String("path", r.joinPath()), zap.Error(err))
		return
	}
	r.join.rec = &rec
}

// saveJoin writes (or, with no record, removes) join.json. Called with
// r.mu held.
func (r *Store) saveJoin() error {
	if !r.Writable() {
		return nil
	}
	if r.join.rec == nil {
		if err := os.Remove(r.joinPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing the join point: %w", err)
		}
		return nil
	}
	b, _ := json.Marshal(r.join.rec)
	if err := writeFileAtomic(r.joinPath(), b, 0o600); err != nil {
		return fmt.Errorf("saving the join point: %w", err)
	}
	return nil
}

// noteFirstWrite runs when this device, joined and never having
// written, writes d: the head d continues is recorded if it moved past
// the join point, else the join point is done with. Called with r.mu held.
func (r *Store) noteFirstWrite(d *delta) {
	r.loadJoin()
	rec := r.join.rec
	if rec == nil || rec.Continued != 0 {
		return
	}
	if parent := d.trailer.Parent.Seq; parent > rec.Seq {
		rec.Continued = parent
	} else {
		r.join.rec = nil
	}
	if err := r.saveJoin(); err != nil {
		r.log.Warn("recording the join point", zap.Error(err))
	}
}

// TakeJoinGap returns, once, what other devices committed between this
// device's join point and the head its first write continued (nil if
// nothing, or not yet written, or reported already). It is kept across
// restarts until taken. Only a writable store takes it.
func (r *Store) TakeJoinGap() *JoinGap {
	if !r.Writable() {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loadJoin()
	rec := r.join.rec
	if rec == nil || rec.Continued == 0 {
		return nil
	}
	g := &JoinGap{JoinSeq: rec.Seq, HeadSeq: rec.Continued, ConfigFlag: r.opts.ConfigFlag}
	// Every snapshot of a sequence past the join point, up to the head the
	// first write continued, is another device's. One that reads as this
	// device's had its record carried by a prune of this device before
	// trailer version 8 (which took the holding delta's device): its
	// host, in the record, is still right.
	for _, s := range r.snapshots {
		switch {
		case s.Seq <= rec.Seq:
			g.Base = s
		case s.Seq <= rec.Continued:
			if s.Device == r.opts.DeviceID {
				s.Device = [16]byte{}
			}
			g.Snapshots = append(g.Snapshots, s)
		}
	}
	r.join.rec = nil
	if err := r.saveJoin(); err != nil {
		r.log.Warn("removing the join point; its warning may be repeated", zap.Error(err))
	}
	if len(g.Snapshots) == 0 {
		return nil
	}
	return g
}

// Newest is the newest snapshot of the gap.
func (g *JoinGap) Newest() Snapshot { return g.Snapshots[len(g.Snapshots)-1] }

// String says what happened and what to do, for the CLI, the daemon's
// log and status, and `backup --json`'s warnings.
func (g *JoinGap) String() string {
	type dev struct {
		host     string
		id       [16]byte
		from, to Snapshot
		n        int
	}
	type key struct {
		id   [16]byte
		host string
	}
	var devs []*dev
	at := map[key]*dev{}
	for _, s := range g.Snapshots {
		d := at[key{s.Device, s.Hostname}]
		if d == nil {
			d = &dev{host: s.Hostname, id: s.Device, from: s}
			at[key{s.Device, s.Hostname}] = d
			devs = append(devs, d)
		}
		d.to, d.n = s, d.n+1
	}
	var who []string
	for _, d := range devs {
		seqs := fmt.Sprintf("sequence %d", d.from.Seq)
		if d.to.Seq != d.from.Seq {
			seqs = fmt.Sprintf("sequences %d to %d", d.from.Seq, d.to.Seq)
		}
		name := d.host
		switch {
		case d.id != ([16]byte{}) && name != "":
			name += " (device " + hex.EncodeToString(d.id[:4]) + ")"
		case d.id != ([16]byte{}):
			name = "device " + hex.EncodeToString(d.id[:4])
		case name == "":
			name = "another device"
		}
		who = append(who, fmt.Sprintf("%s committed %s (%s, the newest %s of %s)", name, seqs, plural(d.n, "snapshot"), d.to.ShortID(), d.to.Time.UTC().Format(time.RFC3339)))
	}
	n := g.Newest().ShortID()
	get := "Get"
	if g.Base.ID != ([16]byte{}) {
		get = fmt.Sprintf("See what changed with `chatsafe diff %s %s%s`; get", g.Base.ShortID(), n, g.ConfigFlag)
	}
	return fmt.Sprintf("this device joined at sequence %d, and its first snapshot continues the repository at sequence %d: since it joined, %s. "+
		"Those snapshots may hold messages and media this device's chats lack (they were taken at sequence %d); they stay in the repository "+
		"(prune keeps the newest snapshot of each device). %s what you need with `chatsafe restore --snapshot %s --to DIR%s` (--include GLOB for some files only) or `chatsafe dump %s PATH%s`",
		g.JoinSeq, g.HeadSeq, strings.Join(who, "; "), g.JoinSeq, get, n, g.ConfigFlag, n, g.ConfigFlag)
}
