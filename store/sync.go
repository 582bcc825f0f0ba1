package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/faults"
	"github.com/chatsafe/chatsafe/remotes"
)

// Moving deltas to the remotes. Every live delta must reach every target,
// oldest first (a delta's parent is there before it); it comes from the
// spool while it is there, else it is copied from the store's own remote
// (a remote added later is back-filled that way). A delta leaves the
// spool only once every target holds it. The CLI calls Sync; the daemon
// runs SyncTarget on one goroutine per target, so a remote that is down
// delays only itself.

// Target is one remote every live delta must reach, with what this
// process knows it holds.
type Target struct {
	Name string
	// Remote is nil when the remote could not be opened: such a target
	// holds nothing, so nothing leaves the spool until it is fixed.
	Remote  remotes.Remote
	OpenErr error

	mu         sync.Mutex
	seeded     bool // its config was checked, or put there, by this process
	reseed     bool // the user asked to fill it again (Reseed)
	listed     bool
	has        map[string]bool // delta names known to be on the remote
	listFailed time.Time       // the last listing before a commit failed then (othertargets.go)
}

// NewTarget makes a target of an open remote.
func NewTarget(name string, r remotes.Remote) *Target {
	return &Target{Name: name, Remote: r, has: map[string]bool{}}
}

// BrokenTarget makes a target of a remote that could not be opened.
func BrokenTarget(name string, err error) *Target {
	return &Target{Name: name, OpenErr: err, has: map[string]bool{}}
}

// Holds reports whether the remote is known to hold delta name.
func (t *Target) Holds(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.Remote != nil && t.has[name]
}

// Missing counts the deltas of live the remote is not known to hold.
func (t *Target) Missing(live []DeltaInfo) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, di := range live {
		if !t.has[di.Name] {
			n++
		}
	}
	return n
}

// Forget makes the next sync list the remote again (after something
// else, such as prune, changed what it holds).
func (t *Target) Forget() {
	t.mu.Lock()
	t.listed = false
	t.mu.Unlock()
}

// Relist learns which deltas the remote holds, replacing what was known.
func (t *Target) Relist(ctx context.Context) error {
	if t.Remote == nil {
		return t.OpenErr
	}
	objs, err := t.Remote.List(ctx, deltaDir)
	if err != nil {
		return fmt.Errorf("listing %s: %w", t.Name, err)
	}
	t.learn(objs)
	return nil
}

// learn replaces what t is known to hold with a listing of its deltas.
func (t *Target) learn(objs []remotes.ObjectInfo) {
	has := make(map[string]bool, len(objs))
	for _, o := range objs {
		has[o.Name] = true
	}
	t.mu.Lock()
	t.has = has
	t.listed = true
	t.mu.Unlock()
}

// addListed adds what a listing of t's deltas shows to what t is known
// to hold (a listing taken while an upload to t ran may lack that delta).
func (t *Target) addListed(objs []remotes.ObjectInfo) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, o := range objs {
		t.has[o.Name] = true
	}
}

func (t *Target) isListed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.listed
}

func (t *Target) isSeeded() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.seeded
}

func (t *Target) setSeeded() {
	t.mu.Lock()
	t.seeded = true
	t.mu.Unlock()
}

func (t *Target) add(name string) {
	t.mu.Lock()
	t.has[name] = true
	t.mu.Unlock()
}

// SetTargets sets the remotes every delta must reach (by default, the
// store's own remote alone).
func (r *Store) SetTargets(ts []*Target) {
	r.syncMu.Lock()
	r.targets = append([]*Target(nil), ts...)
	r.syncMu.Unlock()
}

// Targets returns the remotes every delta must reach.
func (r *Store) Targets() []*Target {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	return append([]*Target(nil), r.targets...)
}

// SyncHooks report a target's progress; nil fields are skipped.
type SyncHooks struct {
	Start    func(DeltaInfo) // an upload of this delta begins
	Uploaded func(DeltaInfo) // the delta is on the target
}

// SyncTarget uploads every live delta t lacks, oldest first, and stops at
// the first failure; deltas every target then holds leave the spool. A
// target new to this process gets the config object first, if it lacks
// it, and is listed once. A remote that held the repository and lost it
// later (its folder moved, its drive unmounted) is refused, not made a
// repository again: before the first upload of each call, its config is
// asked for (stillHolder). The time each delta reached t is kept in the
// state directory (LastUpload).
func (r *Store) SyncTarget(ctx context.Context, t *Target, hooks SyncHooks) error {
	if t.Remote == nil {
		return fmt.Errorf("remote %q could not be opened (fix the configuration): %w", t.Name, t.OpenErr)
	}
	if err := r.confirmOffline(ctx); err != nil {
		if t.Remote != r.remote {
			return fmt.Errorf("%w: %w", ErrAwaitsFirstRemote, err)
		}
		return err
	}
	// Seeding reads (or puts) t's config: no need to ask for it again.
	confirmed := false
	if t.Remote != r.remote && !t.isSeeded() {
		if err := r.seed(ctx, t); err != nil {
			return err
		}
		confirmed = true
	}
	if err := r.allTargetsHeld(); err != nil {
		return err
	}
	if !t.isListed() {
		if err := t.Relist(ctx); err != nil {
			return err
		}
	}
	live := r.LiveDeltas()
	if t.Remote != r.remote {
		if err := r.checkTargetBeforeUpload(ctx, t, live); err != nil {
			return err
		}
	}
	uploaded := false
	defer func() {
		if uploaded {
			r.saveUploads()
		}
	}()
	for _, di := range live {
		if t.Holds(di.Name) {
			continue
		}
		if !confirmed {
			if err := r.stillHolder(ctx, t); err != nil {
				return err
			}
			confirmed = true
		}
		if hooks.Start != nil {
			hooks.Start(di)
		}
		if err := r.put(ctx, t.Remote, di); err != nil {
			return err
		}
		if err := faults.Point("upload:put"); err != nil {
			return err
		}
		t.add(di.Name)
		if hooks.Uploaded != nil {
			hooks.Uploaded(di)
		}
		// After the hook: what it counts of the upload is there
		// before the upload's time is (the daemon's metrics).
		r.noteUploaded(t.Name)
		uploaded = true
		if err := r.release(); err != nil {
			return err
		}
	}
	return nil
}

// seed gives t the repository's config, once a process: a remote that
// held it before and lost it, config and every delta, is refused
// (holders.go), not made a repository again. One that lost only its
// config gets it back.
func (r *Store) seed(ctx context.Context, t *Target) error {
	if err := r.mayFill(ctx, t); err != nil {
		return err
	}
	if err := CopyConfig(ctx, r.remote, t.Remote); err != nil {
		return err
	}
	t.setSeeded()
	if err := r.noteHolder(t.Remote); err != nil {
		return err
	}
	return r.allTargetsHeld()
}

// Sync brings every target up to date (see SyncTarget). One failing
// remote does not keep the others from being synced; the errors are
// joined. It returns how many deltas left the spool.
func (r *Store) Sync(ctx context.Context) (int, error) {
	return r.SyncTargets(ctx, r.Targets())
}

// SyncTargets is Sync over some of the targets (prune leaves out a remote
// that is failing). Deltas leave the spool only once every target of the
// store holds them, not only the given ones.
func (r *Store) SyncTargets(ctx context.Context, ts []*Target) (int, error) {
	before := len(r.Pending())
	var errs []error
	for _, t := range ts {
		if err := r.SyncTarget(ctx, t, SyncHooks{}); err != nil {
			errs = append(errs, err)
		}
	}
	return before - len(r.Pending()), errors.Join(errs...)
}

// put uploads one live delta to dst: from the spool if it is still there,
// else copied from the store's remote. The remote makes it visible only
// once complete, so an interrupted upload is never taken as committed.
func (r *Store) put(ctx context.Context, dst remotes.Remote, di DeltaInfo) error {
	if di.SpoolPath == "" {
		return copyDelta(ctx, r.remote, dst, di)
	}
	f, err := os.Open(di.SpoolPath)
	if errors.Is(err, os.ErrNotExist) {
		// Released meanwhile (the targets changed): it is on the remotes.
		return copyDelta(ctx, r.remote, dst, di)
	}
	if err != nil {
		return fmt.Errorf("opening spooled delta %s: %w", di.Name, err)
	}
	defer f.Close()
	if err := dst.Put(ctx, di.Name, f, di.Size); err != nil {
		return fmt.Errorf("uploading %s to %s: %w", di.Name, dst, err)
	}
	return nil
}

// release takes out of the spool every pending delta that all targets
// hold, oldest first.
func (r *Store) release() error {
	r.releaseMu.Lock()
	defer r.releaseMu.Unlock()
	ts := r.Targets()
	for _, p := range r.Pending() {
		for _, t := range ts {
			if !t.Holds(p.Name) {
				return nil // later deltas cannot be everywhere either
			}
		}
		if err := r.uploaded(p); err != nil {
			return fmt.Errorf("releasing %s from the spool: %w", p.Name, err)
		}
	}
	return nil
}

// PendingDelta is a delta in the local spool waiting for upload.
type PendingDelta struct {
	Name string // remote object name
	Path string // spool file
	Size int64
	Seq  uint64
}

// Pending lists the spooled deltas not yet on every target, ascending by
// sequence: the order they must reach a remote in.
func (r *Store) Pending() []PendingDelta {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []PendingDelta
	for _, ref := range r.liveRefs() {
		d := r.deltas[ref.ID]
		if d.spoolPath != "" {
			out = append(out, PendingDelta{Name: ref.name(), Path: d.spoolPath, Size: d.size, Seq: ref.Seq})
		}
	}
	return out
}

// uploaded records that p is on every remote; it leaves the spool.
func (r *Store) uploaded(p PendingDelta) error {
	r.mu.Lock()
	var d *delta
	for _, cand := range r.deltas {
		if cand.spoolPath == p.Path {
			d = cand
		}
	}
	if d == nil {
		r.mu.Unlock()
		return nil
	}
	// Opened before the path is let go: from then on the remote is where
	// readers find d, and the trailer is copied from this file outside
	// the lock.
	spooled, openErr := os.Open(d.spoolPath)
	d.onRemote = true
	d.spoolPath = ""
	r.mu.Unlock()
	r.log.Debug("delta left the spool: every target holds it", zap.String("delta", p.Name))
	// A trailer not cached is read from the remote when needed.
	cacheErr := openErr
	if openErr == nil {
		cacheErr = r.cacheSpooledTrailer(d, spooled, d.size)
		spooled.Close()
	}
	if cacheErr != nil && !os.IsNotExist(cacheErr) {
		r.log.Debug("trailer not cached", zap.String("delta", p.Name), zap.Error(cacheErr))
	}
	if err := os.Remove(p.Path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("removing uploaded delta from the spool: %w", err)
	}
	return syncDir(r.spoolDir())
}

// CopyConfig copies the repository's config object from src to dst, so
// that dst can hold the same repository (a second remote, or one added
// later and back-filled with every live delta).
func CopyConfig(ctx context.Context, src, dst remotes.Remote) error {
	b, err := getConfig(ctx, src)
	if err != nil {
		return err
	}
	have, err := getConfig(ctx, dst)
	var ie *IntegrityError
	switch {
	case err == nil && bytes.Equal(have, b):
		return nil
	case err == nil || errors.As(err, &ie):
		return fmt.Errorf("%s: %w (a different repository; point chatsafe at an empty location)", dst, ErrExists)
	case !errors.Is(err, remotes.ErrNotFound):
		return fmt.Errorf("checking %s for a repository: %w", dst, err)
	}
	if err := dst.Put(ctx, configName, bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("writing the config to %s: %w", dst, err)
	}
	return nil
}

// DeltaInfo describes a live delta.
type DeltaInfo struct {
	Name      string
	Seq       uint64
	Size      int64
	SpoolPath string // "" when it is no longer in the spool
}

// LiveDeltas lists every live delta, ascending by sequence: what a remote
// must hold to be complete.
func (r *Store) LiveDeltas() []DeltaInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []DeltaInfo
	for _, ref := range r.liveRefs() {
		d := r.deltas[ref.ID]
		out = append(out, DeltaInfo{Name: ref.name(), Seq: ref.Seq, Size: d.size, SpoolPath: d.spoolPath})
	}
	return out
}

// copyDelta copies a live delta that is no longer spooled from src to dst.
func copyDelta(ctx context.Context, src, dst remotes.Remote, d DeltaInfo) error {
	// d.Size was authenticated when the delta was opened; src gets no
	// say in how much is read.
	rc, err := src.Get(ctx, d.Name, 0, d.Size)
	if err != nil {
		return fmt.Errorf("reading %s from %s: %w", d.Name, src, err)
	}
	defer rc.Close()
	if err := dst.Put(ctx, d.Name, io.LimitReader(rc, d.Size), d.Size); err != nil {
		return fmt.Errorf("copying %s to %s: %w", d.Name, dst, err)
	}
	return nil
}
