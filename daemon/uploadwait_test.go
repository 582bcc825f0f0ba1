package daemon_test

import (
	"context"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/statusapi"
)

// TestBackupAnswerIsAboutItsUpload: the daemon answers a backup that asks
// for it (WaitUpload, as `chatsafe backup` does) once every remote's
// uploader tried the deltas to upload, so its answer is about this
// backup's upload. The second remote goes out of reach right
// before a backup: that very answer names it unreachable; back in reach,
// the first backup after it (nothing changed) has it uploaded before the
// answer, which names no remote and no pending delta.
func TestBackupAnswerIsAboutItsUpload(t *testing.T) {
	in := newInstall(t, 2)
	chat := openChat(t, in.src)
	chat.write(t, 20)
	var down atomic.Bool
	d := runInProcess(t, in, daemon.Options{WrapUpload: func(r remotes.Remote) remotes.Remote {
		if r.String() != "r1" {
			return r
		}
		return remotes.Faulty(r, remotes.FaultOptions{Down: down.Load})
	}})
	waitFor(t, d, "the first snapshot on both remotes", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })

	down.Store(true)
	chat.write(t, 5)
	res := backupWaiting(t, d)
	if len(res.Unreachable) != 1 || res.Unreachable[0].Name != "r1" || !strings.Contains(res.Unreachable[0].Error, "remote is down") {
		t.Fatalf("the first backup with r1 down does not name it unreachable: %+v", res)
	}
	if res.PendingDeltas != 1 || len(res.Uploading) != 0 {
		t.Errorf("the answer with r1 down: %+v", res)
	}

	down.Store(false)
	res = backupWaiting(t, d)
	if !res.Unchanged || len(res.Unreachable) != 0 || len(res.Uploading) != 0 || res.PendingDeltas != 0 {
		t.Fatalf("the first backup with r1 back is not uploaded when the daemon answers: %+v", res)
	}
}

// backupWaiting runs a backup in the daemon as `chatsafe backup` asks for
// it: answered once its upload was tried.
func backupWaiting(t testing.TB, d *daemon.Daemon) statusapi.BackupResult {
	t.Helper()
	res, err := d.Backup(t.Context(), statusapi.BackupRequest{WaitUpload: true})
	if err != nil {
		t.Fatalf("backup through the daemon: %v", err)
	}
	return res
}

// holdPut holds every delta upload, once armed, until release is closed:
// a large upload, in progress as long as the test wants.
type holdPut struct {
	remotes.Remote
	armed   *atomic.Bool
	release <-chan struct{}
}

func (h *holdPut) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if strings.HasPrefix(name, "deltas/") && h.armed.Load() {
		select {
		case <-h.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return h.Remote.Put(ctx, name, r, size)
}

// TestBackupAnswerDoesNotWaitForALongUpload: an upload still going on
// when the answer's wait is over (UploadWait; 2 minutes by default) is
// not waited for: the answer names the remote as uploading, not as out
// of reach, and the upload ends in the daemon.
func TestBackupAnswerDoesNotWaitForALongUpload(t *testing.T) {
	in := newInstall(t, 1)
	chat := openChat(t, in.src)
	chat.write(t, 20)
	var armed atomic.Bool
	release := make(chan struct{})
	d := runInProcess(t, in, daemon.Options{UploadWait: 3 * time.Second, WrapUpload: func(r remotes.Remote) remotes.Remote {
		return &holdPut{Remote: r, armed: &armed, release: release}
	}})
	waitFor(t, d, "the first snapshot uploaded", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })

	armed.Store(true)
	chat.write(t, 5)
	res := backupWaiting(t, d)
	if len(res.Unreachable) != 0 || !slices.Equal(res.Uploading, []string{"r0"}) || res.PendingDeltas != 1 {
		t.Fatalf("the answer while the upload goes on: %+v", res)
	}
	close(release)
	waitFor(t, d, "the upload that went on after the answer", idle)
}

// TestBackupAnswerWithNothingToUpload: a requested backup with nothing
// new to upload names no remote, however its wake of the uploaders
// lines up with the answer (a pass the wake starts, with nothing to do,
// is not a remote that did not answer). Run again and again, as the
// answer once raced that pass.
func TestBackupAnswerWithNothingToUpload(t *testing.T) {
	in := newInstall(t, 2)
	chat := openChat(t, in.src)
	chat.write(t, 20)
	d := runInProcess(t, in, daemon.Options{})
	waitFor(t, d, "the first snapshot on both remotes", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })
	for i := range 200 {
		res := backupWaiting(t, d)
		if len(res.Unreachable) != 0 || len(res.Uploading) != 0 || res.PendingDeltas != 0 {
			t.Fatalf("backup %d with nothing to upload: %+v", i, res)
		}
	}
}
