package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/remotes"
)

// Options configure a Store.
type Options struct {
	// StateDir holds this device's state for the repository: the spool of
	// deltas not yet uploaded, cached trailers, the file cache and the
	// newest sequence number seen (for rollback detection). "" means no
	// local state: a restore on a new device.
	StateDir string
	// ReadOnly opens without taking the state lock and never writes; it
	// can run beside a daemon that holds the lock.
	ReadOnly bool
	// DeltaSizeCap splits a backup's delta past this many bytes (default 256 MiB).
	DeltaSizeCap int64
	Log          *zap.Logger
	// CommitGuard, when set, is the repository's commit point (the vault):
	// advanced before each commit (see CommitGuard).
	CommitGuard CommitGuard
	// DeviceID names this device in every delta it writes (instance keeps
	// it in the state directory); Hostname too ("" = os.Hostname()).
	DeviceID [16]byte
	Hostname string
	// Partial opens a damaged repository at its newest intact head instead
	// of failing (and a rollback as a warning): Damage says what was
	// skipped, and nothing is committed until Repair.
	Partial bool
	// Rotating opens a repository while this device rotates its key (it
	// ignores the rotation marker, see rotatemarker.go).
	Rotating bool
	// Cipher seals a new repository (Init) and a key rotation's deltas
	// and config; 0 means this machine's choice, crypt.PreferredCipher.
	// An existing repository is read and written with the cipher its
	// config names, whatever this says.
	Cipher crypt.Cipher
	// Progress, when set, hears how long work goes (see ProgressFunc).
	Progress ProgressFunc
	// StateLock is StateDir's lock when the caller holds it already (the
	// daemon, from its start); nil: a writable Open takes it, and Close
	// lets it go.
	StateLock *StateLock
	// OneBulkEncoder compresses a delta's groups past groupBulkAfter one at
	// a time, with one encoder state instead of one a core: 8 MiB of match
	// tables less a core, for a slower database phase (groupbulk.go). The
	// daemon sets it.
	OneBulkEncoder bool
	ConfigFlag     string // appended to the commands its messages name: cmdline.Installation.Flag
	// fromState is the cached config OpenFromState opens with (offline.go).
	fromState []byte
}

// Store is an open chatsafe repository. Its methods are safe for
// concurrent use; backups are serialised.
type Store struct {
	remote remotes.Remote
	key    crypt.Key
	aead   *crypt.AEAD
	ids    *crypt.IDHasher
	cfg    repoConfig
	opts   Options
	log    *zap.Logger
	lock   *stateLock
	// spoiled counts frames that did not decode to their input, and
	// spoiledWarned is when the last warning about one was logged (Unix
	// nanoseconds; roundtrip.go).
	spoiled, spoiledWarned atomic.Int64
	// rewriteFailed and rewriteWarned do the same for frames zprefix
	// failed on (rewriteFailure).
	rewriteFailed, rewriteWarned atomic.Int64
	// dirLock is the state directory's lock when this Store took it
	// (Options.StateLock nil).
	dirLock *StateLock

	backupMu sync.Mutex // one backup (or prune) at a time
	tokens   tokenMemo  // the last large file cache tokens, decoded (token.go)

	syncMu    sync.Mutex // guards targets
	targets   []*Target
	releaseMu sync.Mutex // one release of the spool at a time

	mu        sync.RWMutex
	deltas    map[[16]byte]*delta // live deltas, remote and spooled
	head      *delta
	index     *blobIndex
	snapshots []Snapshot      // ascending seq
	garbage   []string        // remote objects under deltas/ not referenced by the head
	strays    []string        // remote objects under deltas/ not named like a delta, as last listed
	fork      *Fork           // non-nil while the history is forked
	branches  []*branch       // the fork's branches, the head's first (nil without a fork)
	forkSaid  string          // the fork last logged (its branches' heads): a re-read does not log it again
	damage    []Damage        // what a partial load skipped (nil: intact)
	rollback  bool            // the remote serves an older head than this device saw
	distrust  map[string]bool // deltas whose cached trailer the remote's copy contradicts
	// guardRollback: the commit point records a newer head than the remote serves.
	guardRollback *Damage
	state         localState
	// loaded: while a Refresh loads, the deltas it replaces (walk.go).
	loaded map[[16]byte]*delta
	dicts  dictState  // compression dictionaries (dict.go)
	groups groupCache // the groups small reads opened last (groupcache.go)
	// fromState: opened from the state directory, the remote not read
	// yet; rawConfig is the sealed config opened (offline.go).
	fromState bool
	rawConfig []byte
	confirmMu sync.Mutex // one confirmOffline at a time
	// writerDone is closed when the open Writer closes (nil: none open);
	// a deferred load waits for it (offline.go).
	writerDone chan struct{}
	// offlineLeft: the snapshots backed up offline that the loaded
	// history leaves behind, counted by the load (for Offline).
	offlineLeft int
	join        joinState   // where this device joined, until reported (joinpoint.go)
	uploads     uploadTimes // when each target last got a delta (lastupload.go)
}

// delta is a live delta object, on the remote, in the spool, or both.
type delta struct {
	ref       deltaRef
	size      int64
	spoolPath string // "" once only on the remote
	onRemote  bool
	trailer   *trailer
}

type blobLoc struct {
	d     *delta
	entry *blobEntry
}

// Init creates a new repository at remote. It fails with ErrExists if a
// config object is already there.
func Init(ctx context.Context, remote remotes.Remote, key crypt.Key, opts Options) (*Store, error) {
	if _, err := remote.Stat(ctx, configName); err == nil {
		return nil, fmt.Errorf("%s: %w", remote, ErrExists)
	} else if !errors.Is(err, remotes.ErrNotFound) {
		return nil, fmt.Errorf("checking %s for an existing repository: %w", remote, err)
	}
	cfg := repoConfig{Created: time.Now().UTC(), Cipher: newCipher(opts)}
	if _, err := rand.Read(cfg.RepoID[:]); err != nil {
		return nil, err
	}
	// A cipher this chatsafe does not know (Options.Cipher) fails here.
	if _, err := sealer(key, cfg.Cipher); err != nil {
		return nil, err
	}
	obj := newConfig(key, cfg)
	if err := remote.Put(ctx, configName, bytes.NewReader(obj), int64(len(obj))); err != nil {
		return nil, fmt.Errorf("writing the repository config to %s: %w", remote, err)
	}
	return Open(ctx, remote, key, opts)
}

// Open opens the repository at remote with key. A wrong key gives
// ErrWrongKey; a damaged or tampered repository an *IntegrityError; a
// remote older than this device last saw ErrRollback.
func Open(ctx context.Context, remote remotes.Remote, key crypt.Key, opts Options) (*Store, error) {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.DeltaSizeCap <= 0 {
		opts.DeltaSizeCap = 256 << 20
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
	}
	if len(opts.Hostname) > maxHostname {
		opts.Hostname = opts.Hostname[:maxHostname]
	}
	r := &Store{
		remote: remote,
		key:    key,
		ids:    crypt.NewIDHasher(key.Subkey(crypt.PurposeBlobID)),
		opts:   opts,
		log:    opts.Log,
	}
	r.targets = []*Target{NewTarget(remote.String(), remote)}
	// The state directory's lock comes first: a command that would write
	// beside a daemon (which holds it even while its remote is out of
	// reach) stops here, before it reads anything.
	if opts.StateDir != "" && !opts.ReadOnly && opts.StateLock == nil {
		var err error
		if r.dirLock, err = LockStateDir(opts.StateDir, opts.ConfigFlag); err != nil {
			return nil, err
		}
	}
	if err := r.open(ctx); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// open is Open once the state directory is locked.
func (r *Store) open(ctx context.Context) error {
	if r.opts.fromState != nil {
		return r.openFromState(ctx, r.opts.fromState)
	}
	raw, err := getConfig(ctx, r.remote)
	if errors.Is(err, remotes.ErrNotFound) && r.goneAtOpen() {
		return firstGoneErr(r.remote.String())
	}
	if errors.Is(err, remotes.ErrNotFound) {
		return r.noRepositoryErr()
	}
	if err != nil {
		return err
	}
	if err := r.useConfig(raw); err != nil {
		return err
	}
	if err := r.checkRotating(ctx); err != nil {
		return err
	}
	if err := r.openState(); err != nil {
		return err
	}
	if err := r.load(ctx); err != nil {
		return err
	}
	r.rawConfig = raw
	r.cacheConfig(raw)
	return r.noteHolder(r.remote)
}

// useConfig takes raw, the sealed config, as the repository's: its
// cipher and, for a rotated repository, its blob id key.
func (r *Store) useConfig(raw []byte) error {
	var err error
	if r.cfg, r.aead, err = decodeConfig(r.key, raw); err != nil {
		return err
	}
	if r.cfg.IDKey != nil { // a rotated repository keeps its blob ids (configv2.go, configv3.go)
		r.ids = crypt.NewIDHasher(*r.cfg.IDKey)
	}
	return nil
}

// Close releases the state locks (not one Options.StateLock handed in).
func (r *Store) Close() error {
	if r.lock != nil {
		r.lock.release()
		r.lock = nil
	}
	if r.dirLock != nil {
		r.dirLock.Release()
		r.dirLock = nil
	}
	return nil
}

// ID returns the repository id in hex.
func (r *Store) ID() string { return fmt.Sprintf("%x", r.cfg.RepoID) }

// Cipher is the cipher the repository's objects are sealed with, as its
// config names it.
func (r *Store) Cipher() crypt.Cipher { return r.cfg.Cipher }

// Remote returns the remote the repository reads from.
func (r *Store) Remote() remotes.Remote { return r.remote }

func (r *Store) dir() string {
	if r.opts.StateDir == "" {
		return ""
	}
	return filepath.Join(r.opts.StateDir, "repo-"+r.ID())
}

func (r *Store) spoolDir() string { return filepath.Join(r.dir(), "spool") }

// load reads the head and every live delta's trailer and builds the index.
// candidate is a delta object found on the remote or in the spool.
type candidate struct {
	seq       uint64
	id        [16]byte
	size      int64
	onRemote  bool
	spoolPath string
}

// candidates lists the delta objects on the remote and in the spool, by name.
func (r *Store) candidates(ctx context.Context) (map[string]*candidate, error) {
	if r.fromState {
		return r.stateCandidates(ctx)
	}
	objs, err := r.remote.List(ctx, deltaDir)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", r.remote, err)
	}
	cands := map[string]*candidate{}
	r.strays = nil
	for _, o := range objs {
		seq, id, ok := parseDeltaName(o.Name)
		if !ok {
			r.log.Warn("ignoring an object that is not a delta", zap.String("object", o.Name))
			r.strays = append(r.strays, o.Name)
			continue
		}
		cands[o.Name] = &candidate{seq: seq, id: id, size: o.Size, onRemote: true}
	}
	for _, sp := range r.spooled() {
		c := cands[sp.name]
		if c == nil {
			c = &candidate{seq: sp.seq, id: sp.id, size: sp.size}
			cands[sp.name] = c
		}
		c.spoolPath = sp.path
	}
	if err := r.findSeenHead(ctx, cands); err != nil {
		return nil, err
	}
	return cands, nil
}

// findSeenHead makes sure the head this device last saw is a candidate
// when the remote holds it. A listing is no proof of absence (a WebDAV
// server leaves out an entry it fails to stat): without the head, opening
// would report a rollback, or read an older history. It asks for the head
// by name and, when it is there, takes it as listed.
func (r *Store) findSeenHead(ctx context.Context, cands map[string]*candidate) error {
	if r.state.SeenSeq == 0 || r.state.SeenID == "" {
		return nil
	}
	var id [16]byte
	b, err := hex.DecodeString(r.state.SeenID)
	if err != nil || len(b) != len(id) {
		return nil
	}
	copy(id[:], b)
	seq := r.state.SeenSeq
	name := deltaName(seq, id)
	if cands[name] != nil {
		return nil
	}
	info, err := r.remote.Stat(ctx, name)
	switch {
	case errors.Is(err, remotes.ErrNotFound):
		return nil // gone: compacted by another device's prune, or a real rollback
	case err != nil:
		return fmt.Errorf("%s is not listed on %s and asking for it failed (try again when the remote is reachable): %w", name, r.remote, err)
	}
	r.log.Warn("the remote's listing left out the head this device saw; it is read all the same", zap.String("delta", name))
	cands[name] = &candidate{seq: seq, id: id, size: info.Size, onRemote: true}
	return nil
}

func (r *Store) load(ctx context.Context) error {
	cands, err := r.candidates(ctx)
	if err != nil {
		return err
	}
	r.reset()
	r.damage, r.rollback = nil, false
	if len(cands) == 0 {
		if r.state.SeenSeq > 0 {
			return fmt.Errorf("%w: %s holds no deltas, but this device already saw sequence %d (the remote was emptied or replaced)", ErrRollback, r.remote, r.state.SeenSeq)
		}
		return nil
	}
	usable := make(map[string]*candidate, len(cands))
	for name, c := range cands {
		usable[name] = c
	}
	tips, forkSeq, branches, live, err := r.openHistory(ctx, usable)
	for err != nil && r.opts.Partial && errors.Is(err, ErrIntegrity) && len(usable) > 1 {
		// Fall back to the next newest head: the one skipped is damaged
		// or pins a delta that is.
		skipped := newestCandidate(usable)
		r.damage = append(r.damage, damageOf(err, skipped))
		r.log.Error("skipping a head that cannot be verified; reading the newest intact history", zap.String("head", skipped), zap.Error(err))
		delete(usable, skipped)
		r.reset()
		tips, forkSeq, branches, live, err = r.openHistory(ctx, usable)
	}
	if err != nil {
		return err
	}
	head := tips[0]
	kept := false
	for name, c := range cands {
		if !live[name] {
			if c.onRemote {
				r.garbage = append(r.garbage, name)
			}
			if c.spoolPath != "" && r.state.OfflineFrom != 0 && c.seq >= r.state.OfflineFrom {
				// Backed up offline and not checked yet: another
				// device's history may have left it behind, never
				// dropped (docs/switching-devices.md).
				r.log.Warn("keeping a delta backed up offline that the history does not list", zap.String("delta", name))
				kept = true
				continue
			}
			if c.spoolPath != "" && len(r.damage) == 0 && r.Writable() {
				// A spooled delta older than the head was superseded (with
				// damage it may be what repair re-uploads: kept). A
				// read-only open (restore, check, beside a daemon) leaves
				// the spool to its writer.
				r.log.Warn("dropping a stale spooled delta", zap.String("delta", name))
				os.Remove(c.spoolPath)
			}
		}
	}
	if kept {
		r.offlineLeft = r.leftBehindLocked(ctx)
	}
	sort.Strings(r.garbage)
	if r.state.SeenSeq > head.ref.Seq {
		if !r.opts.Partial {
			return fmt.Errorf("%w: %s serves sequence %d, but this device already saw sequence %d; the newest deltas were removed or an old copy was put back (if you moved the repository on purpose, remove %s)",
				ErrRollback, r.remote, head.ref.Seq, r.state.SeenSeq, r.state.path)
		}
		r.noteRollback(head)
	}
	for _, d := range r.deltas {
		r.addToIndex(d)
	}
	r.head = head
	r.noteFork(branches, forkSeq)
	r.rebuildSnapshots()
	if r.Writable() {
		r.adoptNewestDict(ctx)
		r.sweepStateCaches()
	}
	if len(r.damage) > 0 {
		// Neither the rollback guard nor the writer moves to a head read
		// only because a newer one is damaged.
		return nil
	}
	// A read-only open with a state directory notes a take-over too (in
	// memory: saveState writes nothing), so a dry run can say it.
	if r.dir() != "" && r.fork == nil && r.state.TakenOver == nil {
		if d := r.othersNewer(); d != nil {
			if err := r.markTakenOver(d, ""); err != nil && !errors.Is(err, ErrTakenOver) {
				return err
			}
		}
	}
	r.descends(head)
	if r.fork != nil && r.branches == nil {
		// Keep what this device saw until takeover accepts the remote's head.
		return nil
	}
	return r.noteSeen(head)
}

// reset empties the loaded history.
func (r *Store) reset() {
	r.deltas = map[[16]byte]*delta{}
	r.index = newBlobIndex()
	r.snapshots = nil
	r.head = nil
	r.garbage = nil
	r.fork, r.branches = nil, nil
	r.offlineLeft = 0
}

// openHistory finds the branch tips among cands and opens every branch:
// r.deltas gets every delta they pin; live names them.
func (r *Store) openHistory(ctx context.Context, cands map[string]*candidate) ([]*delta, uint64, []*branch, map[string]bool, error) {
	tips, forkSeq, err := r.findTips(ctx, cands)
	if err != nil {
		return nil, 0, nil, nil, err
	}
	live := map[string]bool{}
	var branches []*branch
	for _, tip := range tips {
		b, err := r.openBranch(ctx, tip, cands, live)
		if err != nil {
			return nil, 0, nil, nil, err
		}
		branches = append(branches, b)
	}
	return tips, forkSeq, branches, live, nil
}

func (r *Store) addToIndex(d *delta) {
	r.index.add(d)
}

// rebuildSnapshots derives the snapshot list: every live delta's
// snapshot records, less those the head says were forgotten.
func (r *Store) rebuildSnapshots() {
	forgotten := map[[16]byte]bool{}
	if r.head != nil {
		for _, id := range r.head.trailer.Forgotten {
			forgotten[id] = true
		}
	}
	r.snapshots = r.snapshots[:0]
	for _, d := range r.deltas {
		for _, s := range d.trailer.Snapshots {
			if (r.branches == nil && !forgotten[s.ID]) || (r.branches != nil && r.visible(d, s)) {
				r.snapshots = append(r.snapshots, s)
			}
		}
	}
	// Sequence, then time and id: with a fork two snapshots share a
	// sequence, and their order must not follow the map's.
	sort.Slice(r.snapshots, func(i, j int) bool {
		a, b := r.snapshots[i], r.snapshots[j]
		if a.Seq != b.Seq {
			return a.Seq < b.Seq
		}
		if !a.Time.Equal(b.Time) {
			return a.Time.Before(b.Time)
		}
		return string(a.ID[:]) < string(b.ID[:])
	})
	if r.fork != nil {
		r.branchSnapshots()
	}
}

// liveRefs lists every live delta, ascending by sequence.
func (r *Store) liveRefs() []deltaRef {
	refs := make([]deltaRef, 0, len(r.deltas))
	for _, d := range r.deltas {
		refs = append(refs, d.ref)
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Seq < refs[j].Seq })
	return refs
}

// StateDir is this repository's directory in the state directory ("" with
// no local state).
func (r *Store) StateDir() string { return r.dir() }

// Log is the store's logger.
func (r *Store) Log() *zap.Logger { return r.log }
