package daemon

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/store"
)

// uploadWait caps how long the answer to a requested backup waits for
// its upload once the snapshot is committed. The CLI sets no deadline of
// its own (its request ends only when it is interrupted), so this is what
// bounds a `chatsafe backup` whose upload is slow.
const uploadWait = 2 * time.Minute

func (d *Daemon) uploadWait() time.Duration {
	if d.opts.UploadWait > 0 {
		return d.opts.UploadWait
	}
	return uploadWait
}

// signal wakes every goroutine waiting on it when fired.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed at the next fire.
func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// begin numbers a pass that begins.
func (u *uploader) begin() uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.begun++
	return u.begun
}

// finish notes that pass returned and wakes the backups waiting on it.
func (u *uploader) finish(pass uint64) {
	u.mu.Lock()
	u.returned = pass
	u.mu.Unlock()
	u.d.passEnded.fire()
}

// uploadMark is where an uploader stood once a backup was committed.
type uploadMark struct {
	begun   uint64 // passes begun by then: a later one sees the new deltas
	uploads uint64
}

func (u *uploader) mark() uploadMark {
	u.mu.Lock()
	defer u.mu.Unlock()
	return uploadMark{begun: u.begun, uploads: u.uploads}
}

// triedSince reports whether u has made a try that covers live since m:
// a pass begun after m ended (it uploaded them, or failed), or, with no
// pass under way, it holds every delta of live; or it never tries (its
// remote did not open). A pass under way may hold them already and not
// have released them from the spool yet: the answer would count them
// as pending.
func (u *uploader) triedSince(m uploadMark, live []store.DeltaInfo) bool {
	if u.t.Remote == nil {
		return true
	}
	u.mu.Lock()
	ended, inPass := u.ended, u.begun > u.returned
	u.mu.Unlock()
	return ended > m.begun || (!inPass && u.t.Missing(live) == 0)
}

// progressing reports whether u's pass under way got as far as uploading
// (the remote answered its checks), or a delta reached the remote since m.
func (u *uploader) progressing(m uploadMark) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.uploading || u.uploads > m.uploads
}

// awaitUploads waits, once a requested backup committed, until every
// remote's uploader has made a try that covers the deltas to upload (the
// backup's and those that waited): it uploaded them, or failed. It waits
// until ctx ends or uploadWait passes at most. Then it fills in what res
// says of the upload: the remotes out of reach at that try (Unreachable),
// those whose upload goes on (Uploading) and the deltas still pending.
func (d *Daemon) awaitUploads(ctx context.Context, res *statusapi.BackupResult) {
	d.mu.Lock()
	marks := make(map[*uploader]uploadMark, len(d.uploaders))
	for _, u := range d.uploaders {
		marks[u] = u.mark()
	}
	d.mu.Unlock()
	// A pass begun from now on reads the committed deltas: wake those
	// idle or backing off (one in a pass runs another after it).
	d.wakeUploaders()
	limit := time.NewTimer(d.uploadWait())
	defer limit.Stop()
	// The answer is about the look that ended the wait: looking again
	// could find a pass the wake began since, with nothing to do, under
	// way and call its remote silent.
	var untried map[*uploader]bool
	for waiting := true; waiting; {
		ended := d.passEnded.wait() // before looking: no end is missed
		if untried = d.untried(marks); untried == nil {
			break
		}
		select {
		case <-ended:
		case <-limit.C:
			waiting = false
		case <-ctx.Done():
			waiting = false
		}
	}
	live := d.store.LiveDeltas()
	res.Unreachable = nil // what the last tries found, from the cycle
	for _, u := range d.currentUploaders() {
		if !untried[u] {
			if e := u.unreachableFor(live); e != "" {
				res.Unreachable = append(res.Unreachable, statusapi.RemoteError{Name: u.name, Error: e})
			}
			continue
		}
		// A pass that is uploading, or one a prune holds, goes on: the
		// answer does not wait for a large upload.
		if u.progressing(marks[u]) || d.gate.isPaused() {
			res.Uploading = append(res.Uploading, u.name)
			continue
		}
		res.Unreachable = append(res.Unreachable, statusapi.RemoteError{Name: u.name,
			Error: fmt.Sprintf("remote %q did not answer within %s; the daemon goes on trying", u.name, d.uploadWait())})
	}
	res.PendingDeltas = len(d.store.Pending())
}

// untried are the current uploaders that have not tried the live deltas
// since their marks (nil: none); an uploader of a session started since
// (a reload) has none, and any of its passes counts.
func (d *Daemon) untried(marks map[*uploader]uploadMark) map[*uploader]bool {
	live := d.store.LiveDeltas()
	var out map[*uploader]bool
	for _, u := range d.currentUploaders() {
		if !u.triedSince(marks[u], live) {
			if out == nil {
				out = map[*uploader]bool{}
			}
			out[u] = true
		}
	}
	return out
}

func (d *Daemon) currentUploaders() []*uploader {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.uploaders
}
