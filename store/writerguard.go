package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/remotes"
)

// One writer at a time: each delta names the device that wrote it, and
// before a delta is committed the store looks at the head again (a fresh
// listing of the remote, and the CommitGuard when one is set). A device
// that finds a newer delta of another device writes nothing and stays
// stopped until `chatsafe takeover`.

// maxHostname bounds the hostname a trailer may carry.
const maxHostname = 255

// TakenOverError carries who took over: the device, hostname and time of
// the other device's newest delta.
type TakenOverError struct {
	Device   [16]byte
	Hostname string
	Time     time.Time
	// Note, when set, says why this device cannot see the other device's
	// deltas and what to do instead of a plain takeover.
	Note string
	// ConfigFlag is appended to the takeover command it names
	// (Options.ConfigFlag).
	ConfigFlag string
}

func (e *TakenOverError) Error() string {
	// Two devices may share a hostname: the id tells them apart.
	who := "device " + hex.EncodeToString(e.Device[:4])
	if e.Hostname != "" {
		who = e.Hostname + ", " + who
	}
	when := ""
	if !e.Time.IsZero() {
		when = " at " + e.Time.UTC().Format(time.RFC3339)
	}
	if e.Note != "" {
		return fmt.Sprintf("taken over: another device (%s) writes this repository now, it committed%s; this device backs up nothing more: %s", who, when, e.Note)
	}
	return fmt.Sprintf("taken over: another device (%s) writes this repository now, it committed%s; this device backs up nothing more (run `chatsafe takeover%s` to make this device the writer again)", who, when, e.ConfigFlag)
}

// Is makes errors.Is(err, ErrTakenOver) true.
func (e *TakenOverError) Is(target error) bool { return target == ErrTakenOver }

// takenOverState is what the local state remembers of a take-over, so a
// restart does not resume writing.
type takenOverState struct {
	Device   string    `json:"device"`
	Hostname string    `json:"hostname"`
	Time     time.Time `json:"time"`
	Note     string    `json:"note,omitempty"`
}

func (s *takenOverState) err(configFlag string) *TakenOverError {
	e := &TakenOverError{Hostname: s.Hostname, Time: s.Time, Note: s.Note, ConfigFlag: configFlag}
	hex.Decode(e.Device[:], []byte(s.Device))
	return e
}

// TakenOver reports whether another device took over this repository
// (nil if not): this device's local state says so, or, for a read-only
// store (which records nothing), its head is another device's commit
// after this device's last one.
func (r *Store) TakenOver() *TakenOverError {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.state.TakenOver != nil {
		return r.state.TakenOver.err(r.opts.ConfigFlag)
	}
	if r.Writable() {
		return nil
	}
	if d := r.othersNewer(); d != nil {
		return &TakenOverError{Device: d.trailer.Device, Hostname: d.trailer.Hostname, Time: time.Unix(0, d.trailer.Time).UTC(), ConfigFlag: r.opts.ConfigFlag}
	}
	return nil
}

// cmd is the chatsafe command "chatsafe ARGS" for this installation, in
// backquotes, as the store's messages tell to run it.
func (r *Store) cmd(args string) string { return "`chatsafe " + args + r.opts.ConfigFlag + "`" }

// headRef is d as a commit point records it.
func headRef(d *delta) HeadRef {
	if d == nil {
		return HeadRef{}
	}
	return HeadRef{Seq: d.ref.Seq, DeltaID: d.ref.ID, TrailerHash: d.ref.TrailerHash, Device: d.trailer.Device}
}

// othersNewer reports the delta of another device that makes this one no
// longer the writer: the loaded head when this device wrote (or took
// over) an older one. A device that never wrote continues any head (it
// joined).
func (r *Store) othersNewer() *delta {
	h := r.head
	if h == nil || h.trailer.Device == r.opts.DeviceID || r.state.WriterSeq == 0 || h.ref.Seq <= r.state.WriterSeq {
		return nil
	}
	return h
}

// markTakenOver persists the take-over (with note, when the other device's
// delta is somewhere this device does not read) and returns its error.
func (r *Store) markTakenOver(by *delta, note string) error {
	st := &takenOverState{Device: hex.EncodeToString(by.trailer.Device[:]), Hostname: by.trailer.Hostname, Time: time.Unix(0, by.trailer.Time).UTC(), Note: note}
	r.state.TakenOver = st
	// Debug: the caller reports the error it gets (the CLI's message, the
	// daemon's one error line); a second line here said it twice.
	r.log.Debug("taken over: another device writes this repository now; backups stop here ("+r.cmd("takeover")+" resumes them)",
		zap.String("device", st.Device), zap.String("hostname", st.Hostname), zap.Time("time", st.Time), zap.Uint64("seq", by.ref.Seq))
	if err := r.saveState(); err != nil {
		return err
	}
	return st.err(r.opts.ConfigFlag)
}

// TakenOverElsewhere records a take-over that the commit point (the
// vault) shows and the remote does not: rec, the head it records, was
// written by another device after this device's last commit, past the
// head the remote serves. That device writes the repository, to a remote
// this device does not read (or it has not uploaded yet). A device that
// never wrote, or whose own commit rec is, gets the rollback warning
// alone. The caller notes that rollback in either case (NoteRollback):
// the remote does lack rec.
func (r *Store) TakenOverElsewhere(rec HeadRef) {
	r.mu.Lock()
	defer r.mu.Unlock()
	served := headRef(r.head)
	if r.state.WriterSeq == 0 || rec.Device == r.opts.DeviceID || rec.Device == ([16]byte{}) ||
		rec.Seq <= r.state.WriterSeq || rec.Seq <= served.Seq {
		return
	}
	if r.state.TakenOver == nil {
		r.state.TakenOver = &takenOverState{Device: hex.EncodeToString(rec.Device[:]),
			Note: fmt.Sprintf("the vault records its sequence %d, which %q does not hold (it writes to a remote this device does not read first, or has not uploaded yet); to write from this device again, make that device's deltas reach %q, then run %s", rec.Seq, r.remote.String(), r.remote.String(), r.cmd("takeover"))}
		// Debug, as in markTakenOver: the next commit's error reports it.
		r.log.Debug("taken over: the commit point records another device's newer head, which the remote does not serve; backups stop here",
			zap.String("device", r.state.TakenOver.Device), zap.Uint64("seq", rec.Seq), zap.Uint64("served_seq", served.Seq))
		if err := r.saveState(); err != nil {
			r.log.Warn("saving the take-over", zap.Error(err))
		}
	}
}

// writerCheck runs before a delta is committed: a taken-over or forked
// repository refuses, and so does a remote whose head moved since the
// store loaded it (another device committed). Called with backupMu held.
func (r *Store) writerCheck(ctx context.Context) error {
	r.mu.RLock()
	to, fork, base := r.state.TakenOver, r.fork, r.head
	r.mu.RUnlock()
	if to != nil {
		return to.err(r.opts.ConfigFlag)
	}
	if fork != nil {
		return &ForkError{Fork: *fork, ConfigFlag: r.opts.ConfigFlag}
	}
	if derr := r.Damage(); derr != nil {
		return derr
	}
	// Deltas still in the spool now need not be in the listing: an
	// uploader may take one to every remote and out of the spool while
	// the remote is listed (in microseconds, to a local-path remote), and
	// it would then look gone.
	spooled := r.spooledNames()
	// The remote alone: the spool holds this delta's partial file.
	objs, err := r.offlineList(ctx)
	if err != nil {
		return err
	}
	listed := make(map[string]bool, len(objs)+len(spooled))
	for _, o := range objs {
		listed[o.Name] = true
	}
	for _, name := range spooled {
		listed[name] = true
	}
	if err := r.headGone(ctx, listed); err != nil {
		return err
	}
	var baseSeq uint64
	if base != nil {
		baseSeq = base.ref.Seq
	}
	newest := r.newestUnknown(objs, baseSeq)
	if newest == nil {
		// The other remotes: a device that joined on one of them commits
		// there alone, and this device's upload would fork it.
		d, note := r.othersOnTargets(ctx, baseSeq)
		if d == nil {
			return nil
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.markTakenOver(d, note)
	}
	d := &delta{ref: deltaRef{ID: newest.id, Seq: newest.seq}, size: newest.size, onRemote: true}
	if _, d.trailer, err = r.readTrailer(ctx, d); err != nil {
		return err
	}
	r.mu.Lock()
	err = r.markTakenOver(d, "")
	// Show the other device's history from now on (status, snapshots);
	// this device's own spooled deltas stay (a delta of one sequence on
	// both sides loads as a fork, never dropped).
	deltas, index, snaps, head, garbage, fork, branches := r.deltas, r.index, r.snapshots, r.head, r.garbage, r.fork, r.branches
	lerr := r.load(ctx)
	if lerr != nil {
		// Keep the history loaded before rather than a half-read one.
		r.deltas, r.index, r.snapshots, r.head, r.garbage, r.fork, r.branches = deltas, index, snaps, head, garbage, fork, branches
	}
	r.mu.Unlock()
	if lerr != nil {
		r.log.Warn("reading the other device's history failed", zap.Error(lerr))
		return err
	}
	r.relearnTargets(objs)
	return err
}

// relearnTargets runs after the other device's history was loaded: its
// deltas are live here now, and what this process knew each target to
// hold predates them. The store's own remote holds what its fresh listing
// (objs) shows; the other remotes are listed again at their next sync
// (until then they count the new deltas as queued).
func (r *Store) relearnTargets(objs []remotes.ObjectInfo) {
	for _, t := range r.Targets() {
		if t.Remote == r.remote {
			t.addListed(objs)
		} else {
			t.Forget()
		}
	}
}

// guardAdvance moves the commit point (when there is one) from the head to
// the delta about to be committed.
func (r *Store) guardAdvance(ctx context.Context, next *delta) error {
	if r.opts.CommitGuard == nil {
		return nil
	}
	r.mu.RLock()
	prev := headRef(r.head)
	r.mu.RUnlock()
	if err := r.opts.CommitGuard.Advance(ctx, prev, headRef(next)); err != nil {
		if errors.Is(err, ErrTakenOver) {
			r.mu.Lock()
			r.state.TakenOver = &takenOverState{Time: time.Now().UTC()}
			var te *TakenOverError
			if errors.As(err, &te) {
				r.state.TakenOver = &takenOverState{Device: hex.EncodeToString(te.Device[:]), Hostname: te.Hostname, Time: te.Time}
			}
			serr := r.saveState()
			r.mu.Unlock()
			return errors.Join(err, serr)
		}
		return fmt.Errorf("recording the new head at the commit point: %w", err)
	}
	return nil
}

// DeviceID is the id this device writes into its deltas.
func (r *Store) DeviceID() [16]byte { return r.opts.DeviceID }

// noteWritten records that this device wrote d: it is the writer as of d.
func (r *Store) noteWritten(d *delta) {
	if r.state.WriterSeq == 0 {
		r.noteFirstWrite(d) // joinpoint.go
	}
	r.state.WriterSeq = d.ref.Seq
}

// TakeoverOptions are Takeover's.
type TakeoverOptions struct {
	// DiscardOffline drops what this device backed up offline and never
	// uploaded (without it, Takeover refuses while there is some).
	DiscardOffline bool
}

// TakeoverResult is what Takeover did.
type TakeoverResult struct {
	Head HeadRef // the head this device's next delta continues
	// Dropped counts the snapshots backed up offline, never uploaded,
	// that DiscardOffline dropped.
	Dropped int
}

// Takeover makes this device the writer again, on purpose: it forgets a
// take-over and commits its next delta on the current head. A fork must
// be resolved first (`chatsafe fork resolve`). Snapshots this device
// backed up offline that the remote's history leaves out are dropped only
// with opts.DiscardOffline (else ErrOfflineUnsent).
func (r *Store) Takeover(ctx context.Context, opts TakeoverOptions) (TakeoverResult, error) {
	if !r.Writable() {
		return TakeoverResult{}, errors.New("takeover needs a writable state directory")
	}
	r.backupMu.Lock()
	defer r.backupMu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	// Taking over accepts the remote's history as it is now.
	r.state.SeenID = ""
	if err := r.load(ctx); err != nil {
		return TakeoverResult{}, err
	}
	if r.fork != nil {
		return TakeoverResult{}, &ForkError{Fork: *r.fork, ConfigFlag: r.opts.ConfigFlag}
	}
	dropped, err := r.dropOfflineUnsent(ctx, opts.DiscardOffline)
	if err != nil {
		return TakeoverResult{}, err
	}
	r.state.TakenOver = nil
	r.state.WriterSeq = 0
	if r.head != nil {
		r.state.WriterSeq = r.head.ref.Seq
	}
	r.log.Info("this device is the writer again", zap.Uint64("head_seq", r.state.WriterSeq))
	return TakeoverResult{Head: headRef(r.head), Dropped: dropped}, r.saveState()
}

// Joined makes this device a device that just joined (init --join): it
// forgets a take-over and that it wrote before, so it continues whatever
// head it finds, as a new device does. A state directory that wrote once
// joins again this way after a key rotation; the rollback guard (the seen
// head) is kept.
func (r *Store) Joined() error {
	if !r.Writable() {
		return errors.New("joining needs a writable state directory")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state.TakenOver == nil && r.state.WriterSeq == 0 {
		return nil
	}
	r.state.TakenOver = nil
	r.state.WriterSeq = 0
	r.log.Info("joined: this device continues the repository's head", zap.Uint64("head_seq", headRef(r.head).Seq))
	return r.saveState()
}

// spooledNames lists the deltas the spool holds.
func (r *Store) spooledNames() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for _, d := range r.deltas {
		if d.spoolPath != "" {
			out = append(out, d.ref.name())
		}
	}
	return out
}
