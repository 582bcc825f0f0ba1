package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/faults"
	"github.com/chatsafe/chatsafe/remotes"
)

// Backing up while the first remote is out of reach (docs/service.md,
// "Starting offline"). Without a commit point (a vault), the listing of the
// first remote before each commit is what keeps this device from writing
// past another device's deltas. When only that listing fails because the
// remote is out of reach, a backup commits into the spool all the same, on
// the head it loaded, and the state remembers the first sequence committed
// so (OfflineFrom). Nothing of it leaves the spool until confirmOffline ran
// the checks the commit skipped, against the first remote, before the
// first upload to any remote. A store may also open "from the state"
// (OpenFromState): the sealed config, the head this device saw and the
// cached trailers of the head's live deltas stand in for the remote until
// confirmOffline has read the remote itself.

// ErrNoOfflineState means the state directory does not hold what opening
// without the remote needs (a first run, a head never seen, a trailer not
// cached): the repository needs its remote to open.
var ErrNoOfflineState = errors.New("the state directory cannot stand in for the remote")

// configCacheName is the sealed copy of the repository's config in the
// state directory (not under repo-ID: the id is in the config).
const configCacheName = "repo.config"

// notListedError is writerCheck's failure to list the first remote: the
// one failure a backup commits past when it is the remote being out of
// reach (backupCheck).
type notListedError struct{ err error }

func (e *notListedError) Error() string { return e.err.Error() }
func (e *notListedError) Unwrap() error { return e.err }

// cacheConfig keeps the sealed config a writable open read, for an open
// from the state (a copy of a public object: it is sealed with the key).
func (r *Store) cacheConfig(raw []byte) {
	if !r.Writable() || raw == nil {
		return
	}
	p := filepath.Join(r.opts.StateDir, configCacheName)
	if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, raw) {
		return
	}
	if err := writeFileAtomic(p, raw, 0o600); err != nil {
		r.log.Warn("caching the repository config for starting offline", zap.Error(err))
	}
}

// OpenFromState opens the repository without reading remote: from the
// state directory an earlier writable open left (the sealed config, the
// head this device saw, the cached trailers of its live deltas, the
// spool). Backups commit into the spool on that head; the first sync runs
// the checks of a normal open against remote before anything is uploaded
// (confirmOffline). ErrNoOfflineState: the state cannot stand in. Not with
// a commit point (the vault): a commit needs it.
func OpenFromState(ctx context.Context, remote remotes.Remote, key crypt.Key, opts Options) (*Store, error) {
	if opts.StateDir == "" || opts.ReadOnly || opts.CommitGuard != nil || opts.Rotating {
		return nil, fmt.Errorf("%w: only a writable open without a commit point may", ErrNoOfflineState)
	}
	raw, err := os.ReadFile(filepath.Join(opts.StateDir, configCacheName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no cached repository config", ErrNoOfflineState)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the cached repository config: %w", err)
	}
	opts.fromState = raw
	return Open(ctx, remote, key, opts)
}

// openFromState is open with the cached config raw: no key rotation is
// checked (confirmConfig does, against the remote) and the head this
// device saw must be known.
func (r *Store) openFromState(ctx context.Context, raw []byte) error {
	if err := r.useConfig(raw); err != nil {
		return err
	}
	if err := r.openState(); err != nil {
		return err
	}
	if r.state.SeenSeq == 0 || r.state.SeenID == "" {
		return fmt.Errorf("%w: this device never saw a head of the repository", ErrNoOfflineState)
	}
	r.rawConfig, r.fromState = raw, true
	return r.load(ctx)
}

// stateCandidates stands in for the remote's listing in an open from the
// state: the spool, the head this device saw and every delta the newest
// of them lists as live, each sized by its cached trailer.
func (r *Store) stateCandidates(ctx context.Context) (map[string]*candidate, error) {
	cands := map[string]*candidate{}
	var roots []*candidate
	for _, sp := range r.spooled() {
		c := &candidate{seq: sp.seq, id: sp.id, size: sp.size, spoolPath: sp.path}
		cands[sp.name] = c
		if sp.seq > r.state.SeenSeq { // written after the state was saved
			roots = append(roots, c)
		}
	}
	var seenID [16]byte
	b, err := hex.DecodeString(r.state.SeenID)
	if err != nil || len(b) != len(seenID) {
		return nil, fmt.Errorf("%w: the head this device saw is unreadable in its state", ErrNoOfflineState)
	}
	copy(seenID[:], b)
	seen, err := r.stateCandidate(cands, r.state.SeenSeq, seenID)
	if err != nil {
		return nil, err
	}
	roots = append(roots, seen)
	for _, c := range roots {
		d := &delta{ref: deltaRef{ID: c.id, Seq: c.seq}, size: c.size, onRemote: c.onRemote, spoolPath: c.spoolPath}
		_, t, err := r.readTrailer(ctx, d)
		if err != nil {
			return nil, err
		}
		for _, ref := range t.Live {
			if _, err := r.stateCandidate(cands, ref.Seq, ref.ID); err != nil {
				return nil, err
			}
		}
	}
	return cands, nil
}

// stateCandidate is the candidate seq/id: from the spool when cands has
// it, else on the remote, sized by its cached trailer (authenticated here
// and again, with the size, when the load opens it).
func (r *Store) stateCandidate(cands map[string]*candidate, seq uint64, id [16]byte) (*candidate, error) {
	name := deltaName(seq, id)
	if c := cands[name]; c != nil {
		return c, nil
	}
	d := &delta{ref: deltaRef{ID: id, Seq: seq}}
	sealed := r.cachedTrailer(d)
	if sealed == nil {
		return nil, fmt.Errorf("%w: the trailer of %s is not cached", ErrNoOfflineState, name)
	}
	plain, err := r.aead.Open(nil, sealed, crypt.AssociatedData(adTrailer, r.cfg.RepoID, id[:]))
	if err != nil {
		return nil, fmt.Errorf("%w: the cached trailer of %s does not open", ErrNoOfflineState, name)
	}
	t, err := decodeTrailer(plain)
	if err != nil {
		return nil, fmt.Errorf("%w: the cached trailer of %s does not decode: %w", ErrNoOfflineState, name, err)
	}
	size, _ := objectSize(t, len(sealed)) // the tiling is checked when the load opens it
	c := &candidate{seq: seq, id: id, size: size, onRemote: true}
	cands[name] = c
	return c, nil
}

// backupCheck is writerCheck for a backup's commit: when only the listing
// of the first remote failed, because it is out of reach, and no commit
// point is configured, the delta is committed into the spool all the same
// (on the loaded head), and confirmOffline checks it before it leaves.
func (r *Store) backupCheck(ctx context.Context) error {
	err := r.writerCheck(ctx)
	var nl *notListedError
	outOfReach := errors.As(err, &nl) && errors.Is(err, remotes.ErrUnreachable) || errors.Is(err, ErrRepositoryGone)
	if err == nil || !outOfReach || r.opts.CommitGuard != nil || !r.Writable() {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state.OfflineFrom != 0 {
		return nil
	}
	r.state.OfflineFrom = 1
	if r.head != nil {
		r.state.OfflineFrom = r.head.ref.Seq + 1
	}
	r.log.Warn("the remote is out of reach: backing up into the spool; what is committed so is checked against the remote before it is uploaded",
		zap.Uint64("from_seq", r.state.OfflineFrom), zap.Error(err))
	return r.saveState()
}

// offlineList is writerCheck's listing of the first remote, or why there
// is none (a *notListedError).
func (r *Store) offlineList(ctx context.Context) ([]remotes.ObjectInfo, error) {
	r.mu.RLock()
	fromState := r.fromState
	r.mu.RUnlock()
	if fromState {
		return nil, &notListedError{fmt.Errorf("checking the head before committing: %w: the repository was opened from the state directory (%s was out of reach at start)", remotes.ErrUnreachable, r.remote)}
	}
	objs, err := r.remote.List(ctx, deltaDir)
	if err != nil {
		return nil, &notListedError{fmt.Errorf("checking the head before committing: listing %s: %w", r.remote, err)}
	}
	return objs, nil
}

// OfflineStatus says what this device backed up without its first remote.
type OfflineStatus struct {
	// FromState: the repository was opened from the state directory and
	// the remote has not been read yet.
	FromState bool
	// Snapshots this device committed without the remote's check,
	// waiting for it before they are uploaded, and those another
	// device's history left behind (they wait in the spool until
	// `takeover --discard-offline`).
	Snapshots int
}

// Offline reports what was backed up without the first remote (false:
// nothing, and the remote was read).
func (r *Store) Offline() (OfflineStatus, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	from := r.state.OfflineFrom
	if !r.fromState && from == 0 {
		return OfflineStatus{}, false
	}
	st := OfflineStatus{FromState: r.fromState}
	if from != 0 {
		st.Snapshots = r.offlineLeft
	}
	// Uploaded already (kept marked only for what a merge left behind).
	sent := map[uint64]bool{}
	for _, d := range r.deltas {
		if d.onRemote && d.trailer != nil && d.trailer.Device == r.opts.DeviceID {
			sent[d.ref.Seq] = true
		}
	}
	for _, s := range r.snapshots {
		// Only this device's: another device's of those sequences (a
		// fork a restart loaded) is on the remote, not waiting here.
		if from != 0 && s.Seq >= from && s.Device == r.opts.DeviceID && !sent[s.Seq] {
			st.Snapshots++
		}
	}
	return st, true
}

// confirmOffline runs before any upload while something was committed
// without the first remote's listing, or the store opened from the
// state: the checks of a normal open and of a commit, against the first
// remote. Its config must be the one cached, no key rotation under way;
// another device's delta at or past the first sequence committed offline
// means it took over (recorded: this device's deltas stay in the spool,
// nothing is uploaded); the deltas the history rests on must be there as
// loaded. Only then do uploads start.
func (r *Store) confirmOffline(ctx context.Context) error {
	for {
		r.confirmMu.Lock()
		done, wait, err := r.confirmOfflineOnce(ctx)
		r.confirmMu.Unlock()
		if done || err != nil {
			return err
		}
		if wait == nil {
			continue
		}
		// A backup may run for minutes: wait holding no lock.
		if err := faults.Point("offline:wait-writer"); err != nil {
			return err
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the running backup before reading %s: %w", r.remote, ctx.Err())
		}
	}
}

// confirmOfflineOnce is one round of confirmOffline's checks. Not done: a
// commit came in while they ran (prune and rotation call this holding
// backupMu, so it cannot be held here), and the round runs again with it;
// or a backup is running (wait is closed when it ends).
func (r *Store) confirmOfflineOnce(ctx context.Context) (done bool, wait <-chan struct{}, err error) {
	r.mu.RLock()
	fromState, from, to, raw := r.fromState, r.state.OfflineFrom, r.state.TakenOver, r.rawConfig
	head, fork := r.head, r.fork
	r.mu.RUnlock()
	if !fromState && from == 0 {
		return true, nil, nil
	}
	if to != nil {
		return true, nil, to.err(r.opts.ConfigFlag)
	}
	if err := r.confirmConfig(ctx, fromState, raw); err != nil {
		return true, nil, err
	}
	if from == 0 {
		return r.loadDeferred(ctx, head)
	}
	objs, err := r.remote.List(ctx, deltaDir)
	if err != nil {
		return true, nil, fmt.Errorf("checking %s before uploading what was backed up offline: %w", r.remote, err)
	}
	first := NewTarget(r.remote.String(), r.remote)
	other, err := r.otherDeviceDelta(ctx, first, objs, from)
	if err != nil {
		return true, nil, fmt.Errorf("checking %s before uploading what was backed up offline: %w", r.remote, err)
	}
	if other == nil && fork != nil {
		// A restart since the offline commit loads the other device's
		// delta of that sequence (a fork): known now, and just as much
		// a commit that did not see this device's. (Without a fork the
		// loaded history is one this device continues: a merge.)
		other = r.loadedOtherDelta(from)
	}
	if other != nil {
		return true, nil, r.offlineTakenOver(ctx, other)
	}
	if fork != nil {
		return true, nil, fmt.Errorf("nothing backed up offline is uploaded while the history is forked: %w", &ForkError{Fork: *fork, ConfigFlag: r.opts.ConfigFlag})
	}
	if err := r.confirmLoaded(ctx, objs); err != nil {
		return true, nil, err
	}
	if err := faults.Point("offline:checked"); err != nil {
		return true, nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.head != head {
		return false, nil, nil
	}
	r.fromState = false
	if r.offlineLeft == 0 {
		// Else the deltas the history left behind stay marked, kept in
		// the spool until takeover --discard-offline.
		r.state.OfflineFrom = 0
	}
	r.log.Info("the remote is reachable again and what was backed up offline passed its checks; uploading", zap.String("remote", r.remote.String()))
	return true, nil, r.saveState()
}

// loadDeferred is confirmOffline for a store opened from the state that
// committed nothing since: the open the remote being out of reach put
// off, made now. It loads the remote's history as a normal open does
// (another device's newer head is continued by a device that never
// wrote, and takes over one that did, with the plain message: there is
// nothing offline to merge). Not done: a commit came in meanwhile, and
// the offline checks run for it; or a backup is running (wait: closed
// when it ends), whose blob index, head and spool the load must not
// change under it. A prune or a rotation holds backupMu when it calls
// this, but no Writer is open then.
func (r *Store) loadDeferred(ctx context.Context, head *delta) (done bool, wait <-chan struct{}, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.writerDone != nil {
		return false, r.writerDone, nil
	}
	if r.state.OfflineFrom != 0 || r.head != head {
		return false, nil, nil
	}
	v := r.loadedView()
	r.fromState = false
	if err := r.load(ctx); err != nil {
		r.fromState = true
		r.restoreView(v)
		return true, nil, fmt.Errorf("reading %s, back in reach: %w", r.remote, err)
	}
	if to := r.state.TakenOver; to != nil {
		return true, nil, to.err(r.opts.ConfigFlag)
	}
	r.log.Info("the remote is reachable again; nothing was backed up offline, its history is loaded", zap.String("remote", r.remote.String()))
	return true, nil, nil
}

// loadedOtherDelta is the newest loaded delta at or past seq that another
// device wrote (nil: none).
func (r *Store) loadedOtherDelta(seq uint64) *delta {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var newest *delta
	for _, d := range r.deltas {
		if d.trailer == nil || d.trailer.Device == r.opts.DeviceID || d.ref.Seq < seq {
			continue
		}
		if newest == nil || d.ref.Seq > newest.ref.Seq || (d.ref.Seq == newest.ref.Seq && string(d.ref.ID[:]) < string(newest.ref.ID[:])) {
			newest = d
		}
	}
	return newest
}

// offlineTakenOver records that other, a delta of another device, took
// over while this device backed up offline.
func (r *Store) offlineTakenOver(ctx context.Context, other *delta) error {
	snaps := r.offlineUnsent(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state.TakenOver != nil {
		return r.state.TakenOver.err(r.opts.ConfigFlag)
	}
	return r.markTakenOver(other, fmt.Sprintf("what this device backed up offline (%s) stays in its spool and is not uploaded; to keep it and write from this device again, stop the daemon and run %s, which merges both histories (or says why it cannot)", plural(snaps, "snapshot"), r.cmd("fork resolve")))
}

// confirmConfig checks, for a store opened from the state, that the
// remote's config is the one cached and that no key rotation runs.
func (r *Store) confirmConfig(ctx context.Context, fromState bool, cached []byte) error {
	if !fromState {
		return nil
	}
	raw, err := getConfig(ctx, r.remote)
	if errors.Is(err, remotes.ErrNotFound) {
		return firstGoneErr(r.ownName())
	}
	if err != nil {
		return fmt.Errorf("checking %s before uploading what was backed up offline: %w", r.remote, err)
	}
	if !bytes.Equal(raw, cached) {
		return fmt.Errorf("%w: the repository config on %s is not the one this device cached when it last opened it (the key was rotated, or another repository is there); nothing backed up offline is uploaded: restart the daemon", ErrIntegrity, r.remote)
	}
	return r.checkRotating(ctx)
}

// confirmLoaded checks the loaded history against the remote's listing
// objs: every delta it rests on is there with the size loaded (an open
// from the state sized them by their cached trailers), and the newest of
// them has the trailer loaded (headGone's checks, on the newest delta
// that is not only in the spool).
func (r *Store) confirmLoaded(ctx context.Context, objs []remotes.ObjectInfo) error {
	listed := make(map[string]bool, len(objs))
	sizes := make(map[string]int64, len(objs))
	for _, o := range objs {
		listed[o.Name], sizes[o.Name] = true, o.Size
	}
	for _, name := range r.spooledNames() {
		listed[name] = true
	}
	r.mu.RLock()
	var newest *delta
	var resized []string
	for _, d := range r.deltas {
		if d.spoolPath != "" || !d.onRemote {
			continue
		}
		if s, ok := sizes[d.ref.name()]; ok && s != d.size {
			resized = append(resized, d.ref.name())
		}
		if newest == nil || d.ref.Seq > newest.ref.Seq {
			newest = d
		}
	}
	r.mu.RUnlock()
	if len(resized) > 0 {
		return integrityErr(resized[0], "is not the size this device loaded it with (replaced on the remote); nothing backed up offline is uploaded (run "+r.cmd("check")+")", nil)
	}
	if err := r.verifyRemote(ctx, listed, true); err != nil {
		return err
	}
	if newest == nil || !listed[newest.ref.name()] {
		return nil
	}
	probe := *newest
	plain, _, err := r.readTrailerUncached(ctx, &probe)
	if err != nil {
		return fmt.Errorf("checking %s before uploading what was backed up offline: %w", r.remote, err)
	}
	if trailerHash(plain) != newest.ref.TrailerHash {
		return integrityErr(newest.ref.name(), "its trailer on the remote is not the one this device loaded (replaced); nothing backed up offline is uploaded (run "+r.cmd("check")+")", nil)
	}
	return nil
}
