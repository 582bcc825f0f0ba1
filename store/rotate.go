package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/faults"
	"github.com/chatsafe/chatsafe/remotes"
)

// Key rotation: every live blob is re-sealed under a new backup key into
// new deltas that continue the sequence (so no device sees a rollback),
// then the config is replaced in one Put by a config for the new key that
// remembers the old key's check (ErrKeyRotated): version 2 for
// XChaCha20-Poly1305, version 3 (which names it) for XAES-256-GCM. Then
// the old deltas, now garbage to the new head, are deleted. The
// repository id and the blob ids stay (configv2.go).
//
// A journal in the state directory holds the new key from before the
// first byte is written under it, so a rotation killed at any point is
// resumed by running it again: before the switch, whatever it wrote is
// deleted and the re-sealing starts over; after it, the clean-up goes on.

// RotateJournal is the state of an unfinished rotation.
type RotateJournal struct {
	NewKey     string `json:"new_key"` // hex; the file is 0600 like the key cache
	OldHeadSeq uint64 `json:"old_head_seq"`
}

// Key returns the journal's new key.
func (j *RotateJournal) Key() (crypt.Key, error) {
	var k crypt.Key
	b, err := hex.DecodeString(j.NewKey)
	if err != nil || len(b) != len(k) {
		return k, errors.New("the rotation journal's key is damaged")
	}
	copy(k[:], b)
	return k, nil
}

// RotateJournalPath is where an unfinished rotation is recorded.
func RotateJournalPath(stateDir string) string { return filepath.Join(stateDir, "rotate.json") }

// LoadRotateJournal reads the journal; nil, nil when there is none.
func LoadRotateJournal(stateDir string) (*RotateJournal, error) {
	b, err := os.ReadFile(RotateJournalPath(stateDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the rotation journal: %w", err)
	}
	j := &RotateJournal{}
	if err := json.Unmarshal(b, j); err != nil {
		return nil, fmt.Errorf("the rotation journal %s is damaged: %w", RotateJournalPath(stateDir), err)
	}
	return j, nil
}

// SaveRotateJournal writes the journal durably.
func SaveRotateJournal(stateDir string, j *RotateJournal) error {
	b, _ := json.Marshal(j)
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return err
	}
	return writeFileAtomic(RotateJournalPath(stateDir), b, 0o600)
}

// DropRotateWrites deletes what an unfinished rotation to newKey wrote
// before its switch: the deltas past oldHeadSeq sealed under newKey on the
// remote (a delta another device committed meanwhile stays), and those in
// the repository's spool in stateDir (other repositories' spools stay).
func DropRotateWrites(ctx context.Context, remote remotes.Remote, stateDir string, oldHeadSeq uint64, newKey crypt.Key) error {
	_, repoID, err := configHeader(ctx, remote)
	if err != nil {
		return err
	}
	// Whatever cipher the rotation sealed with (this machine's, when it
	// ran): the new key opens nothing else.
	aeads := sealersOf(newKey)
	objs, err := remote.List(ctx, deltaDir)
	if err != nil {
		return fmt.Errorf("listing %s: %w", remote, err)
	}
	for _, o := range objs {
		if seq, _, ok := parseDeltaName(o.Name); !ok || seq <= oldHeadSeq {
			continue
		}
		if ours, err := trailerOpens(ctx, remote, o, aeads, repoID); err != nil || !ours {
			if err != nil {
				return err
			}
			continue
		}
		if err := remote.Delete(ctx, o.Name); err != nil && !errors.Is(err, remotes.ErrNotFound) {
			return fmt.Errorf("deleting %s from %s: %w", o.Name, remote, err)
		}
	}
	// Only this repository's spool: another one in the same state
	// directory may hold deltas waiting for upload at any sequence.
	spools, _ := filepath.Glob(filepath.Join(stateDir, "repo-"+hex.EncodeToString(repoID[:]), "spool", "*"))
	for _, p := range spools {
		base := filepath.Base(p)
		if seq, _, ok := parseDeltaName(deltaDir + "/" + base); (ok && seq > oldHeadSeq) || filepath.Ext(base) == ".partial" {
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("removing %s: %w", p, err)
			}
		}
	}
	return nil
}

// ResealTo writes every blob of the live deltas, re-sealed under newKey,
// into new deltas on the remote (sequence head+1 on), the last one
// carrying every snapshot record, each still naming the device that took
// it (trailer version 8); then it replaces the config. The store must
// have been opened writable; hold Exclusive. Afterwards this store is
// stale: close it and open the repository with newKey.
func (r *Store) ResealTo(ctx context.Context, newKey crypt.Key, rems []remotes.Remote) error {
	if r.Fork() != nil {
		return fmt.Errorf("rotating the key: %w", &ForkError{Fork: *r.Fork()})
	}
	// What was backed up offline is checked before it is re-sealed into
	// deltas that go to the remotes.
	if err := r.confirmOffline(ctx); err != nil {
		return fmt.Errorf("rotating the key: %w", err)
	}
	if err := r.writerCheck(ctx); err != nil {
		return fmt.Errorf("rotating the key: %w", err)
	}
	// A remote that lost the repository is not filled under the new key
	// (holders.go): that would be a whole repository on whatever disk is
	// mounted in its place.
	for _, rem := range rems {
		if rem == r.remote {
			continue
		}
		if err := r.mayFill(ctx, NewTarget(r.targetName(rem), rem)); err != nil {
			return fmt.Errorf("rotating the key: %w", err)
		}
	}
	// The new key seals with this machine's cipher (newCipher), which
	// the new config names or, being XChaCha20-Poly1305, implies.
	cfg := r.cfg
	cfg.Cipher = newCipher(r.opts)
	aead, err := sealer(newKey, cfg.Cipher)
	if err != nil {
		return err
	}
	ns := &Store{remote: r.remote, key: newKey, aead: aead, ids: r.ids, cfg: cfg, opts: r.opts, log: r.log}
	r.mu.RLock()
	olds := make([]*delta, 0, len(r.deltas))
	for _, d := range r.deltas {
		olds = append(olds, d)
	}
	parent := deltaRef{}
	if r.head != nil {
		parent = r.head.ref
	}
	r.mu.RUnlock()
	sort.Slice(olds, func(i, j int) bool { return olds[i].ref.Seq < olds[j].ref.Seq })
	rw := &resealer{r: r, ns: ns, rems: rems, parent: parent, seq: parent.Seq}
	stage := "re-sealing " + plural(len(olds), "delta") + " under the new key"
	r.progress(stage, 0, len(olds))
	for i, d := range olds {
		if err := rw.delta(ctx, d); err != nil {
			rw.abort()
			return err
		}
		r.progress(stage, i+1, len(olds))
	}
	if err := rw.flush(ctx, r.Snapshots()); err != nil {
		return err
	}
	if err := faults.Point("rotate:resealed"); err != nil {
		return err
	}
	if err := rw.othersCommitted(ctx); err != nil {
		return err
	}
	if cfg.IDKey == nil {
		k := r.key.Subkey(crypt.PurposeBlobID)
		cfg.IDKey = &k
	}
	cfg.PrevChecks = append(append([][32]byte(nil), cfg.PrevChecks...), keyCheck(r.key, cfg.RepoID))
	// Nothing reads a dictionary under the old key from here on.
	r.dropDictCopies()
	// The first remote is the one readers (and a resumed rotation) ask.
	obj := newConfig(newKey, cfg)
	for i, rem := range rems {
		if err := rem.Put(ctx, configName, bytes.NewReader(obj), int64(len(obj))); err != nil {
			return fmt.Errorf("rotating the key: writing the new config to %s: %w (run `chatsafe key rotate` again to resume)", rem, err)
		}
		if i == 0 {
			if err := faults.Point("rotate:switched"); err != nil {
				return err
			}
		}
	}
	return nil
}

// ReplaceConfig copies the config object from src over every one of dsts
// (a rotation resumed after its switch finishes the mirrors so).
func ReplaceConfig(ctx context.Context, src remotes.Remote, dsts []remotes.Remote) error {
	b, err := getConfig(ctx, src)
	if err != nil {
		return err
	}
	for _, d := range dsts {
		if err := d.Put(ctx, configName, bytes.NewReader(b), int64(len(b))); err != nil {
			return fmt.Errorf("writing the config to %s: %w", d, err)
		}
	}
	return nil
}

// resealer fills new deltas with re-sealed blobs, one old delta at a time
// (memory stays at one delta writer plus the fetch pipeline). Fetch
// workers append under mu; the worker that fills a delta finishes it into
// the spool under mu (sequence and parent chain stay in order) and
// uploads it after letting go, so the others go on re-sealing meanwhile.
type resealer struct {
	r, ns   *Store
	rems    []remotes.Remote
	mu      sync.Mutex // guards w, parent, seq, written
	w       *deltaWriter
	parent  deltaRef
	seq     uint64
	written []deltaRef
}

func (rw *resealer) delta(ctx context.Context, d *delta) error {
	var ids []crypt.ID
	rw.r.mu.RLock()
	groups, carried := rw.r.carriedGroups(d)
	for i := range d.trailer.Blobs {
		e := &d.trailer.Blobs[i]
		if rw.r.index.at(e.ID) == e && !carried[e] {
			ids = append(ids, e.ID)
		}
	}
	rw.r.mu.RUnlock()
	if err := rw.carryGroups(ctx, d, groups); err != nil {
		return err
	}
	return rw.r.fetchBlobs(ctx, ids, func(id crypt.ID, plain []byte) error {
		rw.r.mu.RLock()
		loc, _ := rw.r.index.get(id)
		rw.r.mu.RUnlock()
		e := loc.entry
		sealed, comp, _ := rw.ns.sealBlob(nil, id, plain, e.Comp == compNone, nil)
		// Groups are carried whole (carryGroups): e is not a member.
		se := loc.sealedEntry()
		if se.Comp == compZstdDict {
			// Kept with its dictionary, which is re-sealed as a blob too.
			resealed, ok, err := rw.r.resealWithDict(ctx, rw.ns, loc, plain)
			if err != nil {
				return err
			}
			if ok {
				sealed, comp = resealed, compZstdDict
			}
		}
		// A page on a base is re-sealed on its own (its base may not be
		// re-sealed yet): only the dictionary is carried over.
		var dict *crypt.ID
		if did, ok := loc.dict(); ok && comp == compZstdDict {
			dict = &did
		}
		full, err := rw.add(id, e.Type, comp, dict, len(plain), sealed)
		if full != nil {
			// Finished before the blob failed, if it did: uploaded (or,
			// failing that, dropped from the spool) all the same.
			if uerr := rw.upload(ctx, full); err == nil {
				err = uerr
			}
		}
		return err
	})
}

// add appends a re-sealed blob; a delta that was full before it is
// finished and returned, to be uploaded by the caller, also when starting
// the next delta or appending the blob then fails.
func (rw *resealer) add(id crypt.ID, typ BlobType, comp compression, dict *crypt.ID, rawLen int, sealed []byte) (*delta, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	full, err := rw.roomFor(len(sealed), 1)
	if err != nil {
		return full, err
	}
	return full, rw.w.appendSealed(-1, id, typ, comp, dict, rawLen, sealed)
}

// roomFor makes room for a sealed blob of n bytes and entries index
// entries: a delta it would overfill is finished (and returned, to be
// uploaded by the caller, also when starting the next one fails) and a
// new one started; hold mu.
func (rw *resealer) roomFor(n, entries int) (*delta, error) {
	var full *delta
	if rw.w != nil && rw.w.fullN(n, entries, rw.ns.opts.DeltaSizeCap) {
		var err error
		if full, err = rw.finish(nil); err != nil {
			return nil, err
		}
	}
	if rw.w == nil {
		if err := rw.newWriter(); err != nil {
			return full, err
		}
	}
	return full, nil
}

// newWriter starts the next delta; hold mu. Its trailer lists every delta
// the rotation wrote before it, which the new store does not hold.
func (rw *resealer) newWriter() error {
	if err := faults.Point("rotate:new-delta"); err != nil {
		return err
	}
	w, err := rw.ns.newDeltaWriter(rw.seq + 1)
	if err != nil {
		return err
	}
	w.trailer.fixed += int64(len(rw.written)) * deltaRefSize
	rw.w = w
	return nil
}

// finish completes the current delta into the spool and makes it the
// parent of the next; hold mu.
func (rw *resealer) finish(snaps []Snapshot) (*delta, error) {
	w := rw.w
	rw.w = nil
	d, err := w.finish(rw.parent, append([]deltaRef(nil), rw.written...), snaps, nil, time.Now().UnixNano(), nil)
	if err != nil {
		return nil, err
	}
	rw.seq = d.ref.Seq
	rw.parent = d.ref
	rw.written = append(rw.written, d.ref)
	return d, nil
}

// upload puts a finished delta on every remote and drops its spool copy:
// nobody holds the new key yet, so a delta on the remote is only a
// candidate until the switch.
func (rw *resealer) upload(ctx context.Context, d *delta) error {
	if err := faults.Point("rotate:spooled"); err != nil {
		return err
	}
	for _, rem := range rw.rems {
		if err := putFile(ctx, rem, d.ref.name(), d.spoolPath, d.size); err != nil {
			// The spool copy is of no use: sealed under a key nobody
			// holds yet, it cannot be read with the old one, and the
			// rotation run again re-seals from the start. What reached
			// the remotes is dropped by that run (DropRotateWrites).
			removeQuiet(d.spoolPath)
			return fmt.Errorf("rotating the key: uploading %s to %s: %w (run `chatsafe key rotate` again to resume)", d.ref.name(), rem, err)
		}
	}
	if err := os.Remove(d.spoolPath); err != nil {
		return fmt.Errorf("rotating the key: %w", err)
	}
	return faults.Point("rotate:uploaded")
}

// othersCommitted refuses the switch when a delta this rotation did not
// write appeared past the old head (a device that was still writing).
func (rw *resealer) othersCommitted(ctx context.Context) error {
	ours := map[string]bool{}
	for _, ref := range rw.written {
		ours[ref.name()] = true
	}
	objs, err := rw.r.remote.List(ctx, deltaDir)
	if err != nil {
		return fmt.Errorf("listing %s: %w", rw.r.remote, err)
	}
	first := rw.written[0].Seq
	for _, o := range objs {
		if seq, _, ok := parseDeltaName(o.Name); ok && seq >= first && !ours[o.Name] {
			return fmt.Errorf("rotating the key: %w: %s appeared during the rotation; stop that device's daemon, then run `chatsafe key rotate` again", ErrTakenOver, o.Name)
		}
	}
	return nil
}

func putFile(ctx context.Context, rem remotes.Remote, name, path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return rem.Put(ctx, name, f, size)
}

// flush finishes the last delta, carrying every snapshot, and uploads
// it; every worker has returned by then.
func (rw *resealer) flush(ctx context.Context, snaps []Snapshot) error {
	rw.mu.Lock()
	var full *delta
	var err error
	if rw.w != nil && !rw.w.fits(snapshotsSize(snaps, 0), rw.ns.opts.DeltaSizeCap) {
		// No room left for the records: they go into a delta of their own.
		full, err = rw.finish(nil)
	}
	if err == nil && rw.w == nil {
		err = rw.newWriter()
	}
	var d *delta
	if err == nil {
		d, err = rw.finish(snaps)
	}
	rw.mu.Unlock()
	if err != nil {
		if full != nil {
			removeQuiet(full.spoolPath)
		}
		return err
	}
	if full != nil {
		if err := rw.upload(ctx, full); err != nil {
			removeQuiet(d.spoolPath)
			return err
		}
	}
	return rw.upload(ctx, d)
}

func (rw *resealer) abort() {
	if rw.w != nil {
		rw.w.abort()
	}
}
