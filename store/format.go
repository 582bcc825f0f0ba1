package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/chatsafe/chatsafe/crypt"
)

// Format constants; docs/format.md describes each one.
const (
	formatVersion = 1 // of the config and of tree blobs

	// trailerVersion 2 added the sealed padding and each snapshot's root
	// directory mode and time; version 3 the writing device's id and
	// hostname, and each snapshot's incomplete paths; version 4 the table
	// of dictionaries its blobs were compressed with (dict.go); version 5
	// pages compressed on their previous version (basecomp.go), whose
	// bases the same table names; version 6 groups of pages sealed as one
	// blob (group.go); version 7 lists that name runs of a group's members
	// (runlist.go); version 8 the device that took each snapshot, in its
	// record, written only by a delta carrying another device's record
	// (compaction, key rotation). Versions 1 to 7 are still read.
	trailerVersion = 8

	// minSnapshot is the smallest snapshot record of a version 1 trailer
	// (id, the tree id, six one-byte varints), minSnapshotDevice of a
	// version 8 one (three more, and the device): what bounds a trailer's
	// snapshot count.
	minSnapshot       = 16 + 32 + 6
	minSnapshotDevice = minSnapshot + 3 + 16

	configName  = "config"
	deltaDir    = "deltas"
	configMagic = "CHATSAFE"
	footerMagic = "CSDELTA1"
	footerSize  = 4 + len(footerMagic)

	// inlineChunks is how many chunk references a file entry holds inline;
	// beyond it the references go into list blobs of listChunks each, so a
	// page changed in a large database rewrites one small list blob rather
	// than the whole page map.
	// maxBlobSize bounds any blob's plaintext, so a hostile index cannot
	// make a reader allocate without limit.
	maxBlobSize = 64 << 20

	inlineChunks = 16
	listChunks   = 64

	// Associated-data kinds, one per kind of sealed piece.
	adConfig  = "config"
	adBlob    = "blob"
	adTrailer = "trailer"
)

// BlobType says what a blob's plaintext is.
type BlobType uint8

const (
	blobData BlobType = 1 // file content: a SQLite page or a chunk of another file
	blobList BlobType = 2 // a list of chunk references
	blobTree BlobType = 3 // one directory's entries
	// blobPatch changes some chunk references of a file relative to its
	// previous version, so that a few pages changed all over a large
	// database cost a few references, not every list they fall in.
	blobPatch BlobType = 4
	// blobListIndex holds the list ids of a large file, so that its tree
	// entry stays small and unchanged while patches come and go.
	blobListIndex BlobType = 5
	// blobDict is a compression dictionary for small data blobs (dict.go),
	// referenced by the index entries of the blobs compressed with it.
	blobDict BlobType = 6
	// blobGroup is consecutive new pages compressed and sealed as one
	// blob; its members' entries follow its own in the trailer (group.go).
	// It is a container, never referenced by a tree or list.
	blobGroup BlobType = 7
	// blobRunList is a list of chunk references some of which are named
	// as runs of a group's members (runlist.go).
	blobRunList BlobType = 8
)

// indexLists: a file with more lists than this keeps them in a list
// index blob rather than in its tree entry.
const indexLists = 8

// MaxPatchChain bounds how many patches a file's content may stack on its
// lists before the next version is written as full lists again.
const MaxPatchChain = 32

type compression uint8

const (
	compNone compression = 0
	compZstd compression = 1
	// compZstdDict is zstd with a dictionary: the entry's Ref names the
	// dictionary blob in its trailer's Dicts (trailer version 4).
	compZstdDict compression = 2
	// compZstdBase is zstd with an earlier data blob's plaintext as the
	// raw dictionary: the entry's Ref names that blob in its trailer's
	// Dicts (trailer version 5).
	compZstdBase compression = 3
	// compGroup: the blob is a member of the group entry before it in its
	// trailer, a slice of that group's plaintext (trailer version 6).
	compGroup compression = 4
)

// blobEntry locates one sealed blob inside a delta object.
type blobEntry struct {
	ID   crypt.ID
	Type BlobType
	Comp compression
	// Ref is, for a member (compGroup), the index of its group's entry in
	// its trailer's Blobs; for a blob compressed with a dictionary
	// (compZstdDict) or on a base (compZstdBase), 1 + the index of that
	// dictionary's or base's id in its trailer's Dicts (trailer.dictOf);
	// 0 otherwise. No entry needs both, and one field in the padding after
	// Comp keeps an entry at 56 bytes without a pointer: a trailer's Blobs,
	// the largest part of the daemon's live heap, is never scanned by the
	// collector.
	Ref uint32
	// Offset is where the sealed blob starts in the delta object; for a
	// member, where its plaintext starts in its group's.
	Offset    uint64
	SealedLen uint32 // 0 for a member
	RawLen    uint32 // plaintext length before compression
}

// namesDict reports whether e's Ref indexes its trailer's Dicts.
func (e *blobEntry) namesDict() bool {
	return e.Comp == compZstdDict || e.Comp == compZstdBase
}

// deltaRef names a delta and pins its trailer.
type deltaRef struct {
	ID          [16]byte
	Seq         uint64
	TrailerHash [32]byte
}

func (d deltaRef) name() string { return deltaName(d.Seq, d.ID) }

func deltaName(seq uint64, id [16]byte) string {
	return fmt.Sprintf("%s/%016x-%s", deltaDir, seq, hex.EncodeToString(id[:]))
}

// parseDeltaName splits "deltas/<seq>-<id>"; ok is false for anything else.
func parseDeltaName(name string) (seq uint64, id [16]byte, ok bool) {
	rest, found := strings.CutPrefix(name, deltaDir+"/")
	if !found || len(rest) != 16+1+32 || rest[16] != '-' {
		return 0, id, false
	}
	seq, err := strconv.ParseUint(rest[:16], 16, 64)
	if err != nil {
		return 0, id, false
	}
	if _, err := hex.Decode(id[:], []byte(rest[17:])); err != nil {
		return 0, id, false
	}
	// Only the one spelling chatsafe writes: the parsers also take
	// upper-case hex, and a delta is always read under its canonical name.
	if deltaName(seq, id) != name {
		return 0, id, false
	}
	return seq, id, true
}

// Snapshot is one committed state of the source directory.
type Snapshot struct {
	ID       [16]byte
	Seq      uint64 // sequence number of the delta that committed it
	Time     time.Time
	Tree     crypt.ID // root directory's tree blob
	Hostname string
	Source   string // absolute path of the backed-up directory
	Files    uint64
	Bytes    uint64 // total size of the files in it
	// RootMode and RootModTime are the backed-up directory's own mode and
	// modification time (unix ns); zero in snapshots of format 1 deltas.
	RootMode    fs.FileMode
	RootModTime int64
	// Incomplete lists the paths that could not be read for this
	// snapshot (each keeps its previous version, or is absent if it had
	// none); empty in snapshots of format 1 and 2 deltas.
	Incomplete []Omission
	// Device is the device that took the snapshot: from its record in a
	// version 8 trailer, else the device of the trailer holding the
	// record (zero before version 3). A compaction or a key rotation that
	// carries the record into another device's delta keeps it.
	Device [16]byte
}

// Omission is a path a snapshot could not read, and why.
type Omission struct {
	Path   string
	Reason string
}

// maxOmissionText bounds what the writer records of one omission's path
// and reason (a snapshot lists at most maxOmissions of them), so that a
// directory of thousands of unreadable files cannot bloat the trailer.
const (
	maxOmissions    = 1000
	maxOmissionText = 4096
)

// ShortID is the first 8 hex digits of the id, as shown to users.
func (s Snapshot) ShortID() string { return hex.EncodeToString(s.ID[:4]) }

// IDString is the full id in hex.
func (s Snapshot) IDString() string { return hex.EncodeToString(s.ID[:]) }

// trailer is the sealed index at the end of each delta.
type trailer struct {
	ID     [16]byte
	Seq    uint64
	Time   int64 // unix nanoseconds
	Parent deltaRef
	Live   []deltaRef // every other live delta, ascending seq
	Blobs  []blobEntry
	// Dicts holds the dictionaries and bases its Blobs name (blobEntry.Ref),
	// in the order first named (a writer's may hold a base twice).
	Dicts     []crypt.ID
	Snapshots []Snapshot
	// Forgotten lists snapshots, committed by live deltas, that retention
	// has dropped; each head carries the list forward until the deltas
	// holding those records are compacted away.
	Forgotten [][16]byte
	// Device and Hostname name the device that wrote the delta (zero and
	// "" before version 3): who is the writer now, and which device each
	// branch of a fork came from.
	Device   [16]byte
	Hostname string
	// Padding is the length of the sealed padding between the last blob
	// and the trailer (0 in version 1 trailers).
	Padding uint32
}

// encodeSnapshot appends s's record; withDevice (trailer version 8) the
// device that took it too.
func encodeSnapshot(e *encoder, s *Snapshot, withDevice bool) {
	e.raw(s.ID[:])
	e.uvarint(s.Seq)
	e.varint(s.Time.UnixNano())
	e.raw(s.Tree[:])
	e.str(s.Hostname)
	e.str(s.Source)
	e.uvarint(s.Files)
	e.uvarint(s.Bytes)
	e.uvarint(uint64(s.RootMode))
	e.varint(s.RootModTime)
	n := min(len(s.Incomplete), maxOmissions)
	e.uvarint(uint64(n))
	for _, o := range s.Incomplete[:n] {
		e.str(truncate(o.Path, maxOmissionText))
		e.str(truncate(o.Reason, maxOmissionText))
	}
	if withDevice {
		e.raw(s.Device[:])
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func decodeSnapshot(d *decoder, version byte) Snapshot {
	var s Snapshot
	copy(s.ID[:], d.raw(16))
	s.Seq = d.uvarint()
	s.Time = time.Unix(0, d.varint()).UTC()
	s.Tree = d.id()
	s.Hostname = d.str()
	s.Source = d.str()
	s.Files = d.uvarint()
	s.Bytes = d.uvarint()
	if version >= 2 {
		s.RootMode = fs.FileMode(d.uvarint())
		s.RootModTime = d.varint()
	}
	if version >= 3 {
		if n := d.count(2); n > 0 {
			s.Incomplete = make([]Omission, n)
			for i := range s.Incomplete {
				s.Incomplete[i] = Omission{Path: d.str(), Reason: d.str()}
			}
		}
	}
	if version >= 8 {
		copy(s.Device[:], d.raw(16))
	}
	return s
}

func encodeDeltaRef(e *encoder, r deltaRef) {
	e.raw(r.ID[:])
	e.uvarint(r.Seq)
	e.raw(r.TrailerHash[:])
}

func decodeDeltaRef(d *decoder) deltaRef {
	var r deltaRef
	copy(r.ID[:], d.raw(16))
	r.Seq = d.uvarint()
	copy(r.TrailerHash[:], d.raw(32))
	return r
}

func (t *trailer) encode() []byte {
	// The dictionaries, once each, so that an entry names one by a
	// small index rather than by its 32-byte id.
	dicts := map[crypt.ID]int{}
	var table []crypt.ID
	version := byte(4)
	for _, b := range t.Blobs {
		switch {
		case b.Type == blobRunList:
			version = max(version, 7)
		case b.Type == blobGroup:
			version = max(version, 6)
		case b.Comp == compZstdBase:
			version = max(version, 5)
		}
		if id, ok := t.dictOf(&b); ok {
			if _, ok := dicts[id]; !ok {
				dicts[id] = len(table)
				table = append(table, id)
			}
		}
	}
	// Only a delta carrying a record another device took (compaction, key
	// rotation) names each record's device.
	withDevice := t.carriesOthers()
	if withDevice {
		version = trailerVersion
	}
	e := &encoder{b: make([]byte, 0, 64+len(t.Blobs)*48+len(t.Live)*56+len(table)*32)}
	// A delta without dictionary pages is written as version 3, one
	// without pages on a base as version 4, one without groups as version
	// 5, one without run lists as version 6, one whose snapshots are all
	// its own device's as version 7 or older: what chatsafe before them
	// reads too.
	if len(table) == 0 && version < 5 {
		version = 3
	}
	e.byte1(version)
	e.raw(t.ID[:])
	e.uvarint(t.Seq)
	e.varint(t.Time)
	encodeDeltaRef(e, t.Parent)
	e.uvarint(uint64(len(t.Live)))
	for _, r := range t.Live {
		encodeDeltaRef(e, r)
	}
	if version >= 4 {
		e.uvarint(uint64(len(table)))
		for _, id := range table {
			e.raw(id[:])
		}
	}
	e.uvarint(uint64(len(t.Blobs)))
	var prevEnd uint64
	for _, b := range t.Blobs {
		// Blobs are stored back to back, so offsets are delta-coded
		// against the previous blob's end (almost always 0).
		e.raw(b.ID[:])
		e.byte1(byte(b.Type))
		e.byte1(byte(b.Comp))
		if b.Comp == compGroup {
			// Members tile their group's plaintext in order: the length
			// says all.
			e.uvarint(uint64(b.RawLen))
			continue
		}
		if id, ok := t.dictOf(&b); ok {
			e.uvarint(uint64(dicts[id]))
		}
		e.uvarint(b.Offset - prevEnd)
		e.uvarint(uint64(b.SealedLen))
		e.uvarint(uint64(b.RawLen))
		prevEnd = b.Offset + uint64(b.SealedLen)
	}
	e.uvarint(uint64(len(t.Snapshots)))
	for i := range t.Snapshots {
		encodeSnapshot(e, &t.Snapshots[i], withDevice)
	}
	e.uvarint(uint64(len(t.Forgotten)))
	for _, id := range t.Forgotten {
		e.raw(id[:])
	}
	e.raw(t.Device[:])
	e.str(t.Hostname)
	// Fixed width: the writer sizes the padding from the trailer's
	// length, which must not depend on the padding's.
	e.b = binary.LittleEndian.AppendUint32(e.b, t.Padding)
	return e.b
}

// checkTrailerVersion refuses a version this chatsafe cannot read: one
// above its own was written by a newer chatsafe (ErrUnsupported: not
// damage, and nothing to repair); 0 was never written.
func checkTrailerVersion(version byte) error {
	switch {
	case version == 0:
		return errors.New("delta format version 0")
	case version > trailerVersion:
		return fmt.Errorf("%w: delta format version %d (this chatsafe reads versions 1 to %d; upgrade chatsafe)", ErrUnsupported, version, trailerVersion)
	}
	return nil
}

func decodeTrailer(p []byte) (*trailer, error) {
	d := &decoder{b: p}
	version := d.byte1()
	if err := checkTrailerVersion(version); d.err == nil && err != nil {
		return nil, err
	}
	t := &trailer{}
	copy(t.ID[:], d.raw(16))
	t.Seq = d.uvarint()
	t.Time = d.varint()
	t.Parent = decodeDeltaRef(d)
	t.Live = make([]deltaRef, d.count(49))
	for i := range t.Live {
		t.Live[i] = decodeDeltaRef(d)
	}
	if version >= 4 {
		t.Dicts = make([]crypt.ID, d.count(32))
		for i := range t.Dicts {
			t.Dicts[i] = d.id()
		}
	}
	t.Blobs = make([]blobEntry, d.count(minIndexEntry))
	var prevEnd uint64
	g := groupFill{at: -1}
	for i := range t.Blobs {
		b := &t.Blobs[i]
		b.ID = d.id()
		b.Type = BlobType(d.byte1())
		b.Comp = compression(d.byte1())
		if b.Comp == compGroup {
			g.member(d, t.Blobs, b, version)
			continue
		}
		if g.at >= 0 {
			d.fail("a group's members do not fill it")
		}
		if (b.Comp == compZstdDict || (b.Comp == compZstdBase && version >= 5)) && d.err == nil {
			if k := d.uvarint(); k < uint64(len(t.Dicts)) {
				b.Ref = uint32(k + 1)
			} else {
				d.fail("blob names a dictionary the trailer does not list")
			}
		}
		b.Offset = prevEnd + d.uvarint()
		sl, rl := d.uvarint(), d.uvarint()
		if sl > maxBlobSize+crypt.Overhead || rl > maxBlobSize {
			d.fail("blob too large")
		}
		b.SealedLen, b.RawLen = uint32(sl), uint32(rl)
		if b.Type < blobData || b.Type > blobRunList || b.Comp > compZstdBase || (b.Type == blobDict && b.Comp == compZstdDict) ||
			(b.Comp == compZstdBase && (version < 5 || b.Type != blobData)) || (b.Type == blobRunList && version < 7) {
			d.fail("unknown blob type or compression")
		}
		if b.Type == blobGroup && d.err == nil {
			g.start(d, i, b, version)
		}
		prevEnd = b.Offset + uint64(b.SealedLen)
	}
	if g.at >= 0 {
		d.fail("a group's members do not fill it")
	}
	minSnap := minSnapshot
	if version >= 8 {
		minSnap = minSnapshotDevice
	}
	t.Snapshots = make([]Snapshot, d.count(minSnap))
	for i := range t.Snapshots {
		t.Snapshots[i] = decodeSnapshot(d, version)
	}
	t.Forgotten = make([][16]byte, d.count(16))
	for i := range t.Forgotten {
		copy(t.Forgotten[i][:], d.raw(16))
	}
	if version >= 3 {
		copy(t.Device[:], d.raw(16))
		t.Hostname = d.str()
		if len(t.Hostname) > maxHostname {
			d.fail("hostname too long")
		}
	}
	if version >= 2 {
		if b := d.raw(4); b != nil {
			t.Padding = binary.LittleEndian.Uint32(b)
		}
		if t.Padding != 0 && (t.Padding < crypt.Overhead || t.Padding > maxPadding) {
			d.fail("bad padding length")
		}
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	if version < 8 {
		// Before version 8 every record was taken by the delta's device.
		for i := range t.Snapshots {
			t.Snapshots[i].Device = t.Device
		}
	}
	return t, nil
}

// carriesOthers reports whether a snapshot record of t was taken by
// another device than the one writing t.
func (t *trailer) carriesOthers() bool {
	for i := range t.Snapshots {
		if t.Snapshots[i].Device != t.Device {
			return true
		}
	}
	return false
}

// dictOf returns the dictionary or base e, one of t's Blobs, was
// compressed with; false if none.
func (t *trailer) dictOf(e *blobEntry) (crypt.ID, bool) {
	if !e.namesDict() || e.Ref == 0 || int(e.Ref) > len(t.Dicts) {
		return crypt.ID{}, false
	}
	return t.Dicts[e.Ref-1], true
}

func trailerHash(plain []byte) [32]byte { return sha256.Sum256(plain) }

// footer is the last footerSize bytes of a delta: the sealed trailer's
// length and a magic string.
func encodeFooter(sealedTrailerLen int) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(sealedTrailerLen))
	return append(b, footerMagic...)
}

func decodeFooter(p []byte) (int, bool) {
	if len(p) != footerSize || !bytes.Equal(p[4:], []byte(footerMagic)) {
		return 0, false
	}
	return int(binary.LittleEndian.Uint32(p[:4])), true
}
