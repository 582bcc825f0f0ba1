package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes/remotetest"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/store"
)

// ranOnline runs the daemon of in once with its WebDAV remote up, until
// its first snapshot is uploaded, and stops it: the state directory then
// holds what opening from the state needs. It returns that snapshot's seq.
func ranOnline(t *testing.T, in *install, chat *chatDB) uint64 {
	t.Helper()
	chat.write(t, 40)
	d := runInProcess(t, in, daemon.Options{Retry: fastRetry})
	st := waitFor(t, d, "the first snapshot uploaded", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })
	stopInProcess(d)
	return st.LastSnapshot.Seq
}

// startedFromState starts the daemon of in with its remote out of reach
// and waits until it opened the repository from its state directory.
func startedFromState(t *testing.T, in *install) (*daemon.Daemon, *runExit) {
	t.Helper()
	d, done := startOffline(t, in, daemon.Options{Retry: fastRetry})
	st := waitForOrExit(t, d, done, "the repository open from the state", func(st statusapi.Status) bool {
		return st.RepositoryID != "" && st.Offline != nil && st.Offline.FromState
	})
	// The uploaders, and so the remotes' lines, start with the first
	// session, just after the repository opens.
	if st.KeySource == "" || st.LastSnapshot == nil {
		t.Fatalf("status open from the state: %s", statusJSON(st))
	}
	return d, done
}

// TestStartOfflineBacksUpFromState: a laptop's daemon that ran before
// starts while its only remote is out of reach. It opens the repository
// from its state directory and backs up into the spool (status
// "offline", with the snapshots waiting; `chatsafe backup` works); the
// remote gets nothing meanwhile. Once the remote is back the spooled
// deltas are checked and uploaded, and they restore byte for byte.
func TestStartOfflineBacksUpFromState(t *testing.T) {
	srv := remotetest.StartWebDAV(t, t.TempDir())
	in := newInstallSpec(t, []string{srv.Spec}, "")
	chat := openChat(t, in.src)
	firstSeq := ranOnline(t, in, chat)
	before := deltaSeqs(t, srv.ObjectsDir())

	srv.Stop()
	chat.write(t, 30)
	d, done := startedFromState(t, in)
	res, err := d.Backup(context.Background(), statusapi.BackupRequest{})
	if err != nil {
		t.Fatalf("a backup while the remote is out of reach: %v", err)
	}
	if res.Snapshot == nil || res.Snapshot.Seq <= firstSeq {
		t.Fatalf("the backup committed nothing: %+v", res)
	}
	st := waitForOrExit(t, d, done, "the offline snapshot counted", func(st statusapi.Status) bool {
		return st.State == statusapi.StateOffline && st.Offline != nil && st.Offline.Snapshots >= 1 && st.PendingDeltas >= 1
	})
	if st.LastSnapshot == nil || st.LastSnapshot.Seq < res.Snapshot.Seq {
		t.Fatalf("status while offline: %s", statusJSON(st))
	}
	if got := deltaSeqs(t, srv.ObjectsDir()); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("the remote holds %v while out of reach, want %v", got, before)
	}
	if len(spoolFiles(t, in.state)) == 0 {
		t.Fatal("nothing in the spool after the offline backup")
	}

	srv.Start()
	chat.write(t, 5)
	backupNow(t, d) // new work wakes the uploader before its back-off ends
	st = waitForOrExit(t, d, done, "the offline deltas uploaded", idle)
	if st.Offline != nil || len(spoolFiles(t, in.state)) != 0 {
		t.Fatalf("after the remote came back: %s, spool %v", statusJSON(st), spoolFiles(t, in.state))
	}
	sameTree(t, in.src, restoreFrom(t, srv.Spec, in.key))
}

// TestStartOfflineTakenOverMeanwhile: while the laptop backs up from its
// state, another device commits to the repository (here straight into
// the served directory, the server being down for the laptop). When the
// remote is back, the laptop's first upload finds that delta: it stops
// as taken over, naming the other device, uploads nothing past it, and
// keeps its offline deltas in the spool.
func TestStartOfflineTakenOverMeanwhile(t *testing.T) {
	srv, in, chat, d, done, offline := backedUpOffline(t)

	phoneBacksUp(t, srv.ObjectsDir(), in.key)
	after := deltaSeqs(t, srv.ObjectsDir())

	srv.Start()
	chat.write(t, 5)
	if _, err := d.Backup(context.Background(), statusapi.BackupRequest{}); err != nil && !errors.Is(err, store.ErrTakenOver) && !strings.Contains(err.Error(), "taken over") {
		t.Fatalf("the backup that wakes the uploader: %v", err)
	}
	st := waitForOrExit(t, d, done, "the take-over", func(st statusapi.Status) bool {
		return st.State == statusapi.StateTakenOver && st.TakenOver != nil
	})
	if st.TakenOver.Hostname != "phone" {
		t.Fatalf("taken over by %+v, want phone", st.TakenOver)
	}
	if got := deltaSeqs(t, srv.ObjectsDir()); fmt.Sprint(got) != fmt.Sprint(after) {
		t.Fatalf("the remote holds %v after the take-over, want the other device's %v", got, after)
	}
	spool := spoolFiles(t, in.state)
	for _, p := range offline {
		if !strings.Contains(strings.Join(spool, "\n"), p) {
			t.Fatalf("the offline delta %s left the spool (%v)", p, spool)
		}
	}
	if _, err := d.Backup(context.Background(), statusapi.BackupRequest{}); err == nil || !strings.Contains(err.Error(), "taken over") {
		t.Fatalf("a backup after the take-over: %v", err)
	}
}

// TestFirstRemoteGoesAwayBacksUpIntoSpool: the only remote goes out of
// reach while the daemon runs. Its cycles go on committing into the spool
// (state "offline", the snapshots counted), and once the remote is back
// they are checked and uploaded, and restore byte for byte.
func TestFirstRemoteGoesAwayBacksUpIntoSpool(t *testing.T) {
	srv := remotetest.StartWebDAV(t, t.TempDir())
	in := newInstallSpec(t, []string{srv.Spec}, "")
	chat := openChat(t, in.src)
	chat.write(t, 40)
	d := runInProcess(t, in, daemon.Options{Retry: fastRetry})
	first := waitFor(t, d, "the first snapshot uploaded", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })

	srv.Stop()
	chat.write(t, 30)
	res := backupNow(t, d)
	if res.Snapshot == nil || res.Snapshot.Seq <= first.LastSnapshot.Seq {
		t.Fatalf("the backup while the remote is out of reach committed nothing: %+v", res)
	}
	st := waitFor(t, d, "the offline snapshot counted", func(st statusapi.Status) bool {
		return st.State == statusapi.StateOffline && st.Offline != nil && st.Offline.Snapshots >= 1 && !st.Offline.FromState
	})
	if st.PendingDeltas == 0 || len(spoolFiles(t, in.state)) == 0 {
		t.Fatalf("nothing spooled while the remote is out of reach: %s", statusJSON(st))
	}

	srv.Start()
	chat.write(t, 5)
	backupNow(t, d)
	st = waitFor(t, d, "the offline deltas uploaded", idle)
	if st.Offline != nil || len(spoolFiles(t, in.state)) != 0 {
		t.Fatalf("after the remote came back: %s", statusJSON(st))
	}
	sameTree(t, in.src, restoreFrom(t, srv.Spec, in.key))
}

// TestStartOfflineUnusableStateStaysOffline: a state directory that
// cannot stand in for the remote for a reason other than lacking
// something (its cached config does not open: the key was rotated, or
// the file is damaged) leaves the daemon as it would be without it:
// offline, the remote named unreachable, trying again, not exited. Once
// the remote is back it opens normally and backs up.
func TestStartOfflineUnusableStateStaysOffline(t *testing.T) {
	srv := remotetest.StartWebDAV(t, t.TempDir())
	in := newInstallSpec(t, []string{srv.Spec}, "")
	chat := openChat(t, in.src)
	firstSeq := ranOnline(t, in, chat)

	srv.Stop()
	p := filepath.Join(in.state, "repo.config")
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-1] ^= 1
	if err := os.WriteFile(p, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	chat.write(t, 30)
	d, done := startOffline(t, in, daemon.Options{Retry: fastRetry})
	st := waitForOrExit(t, d, done, "the offline state", func(st statusapi.Status) bool {
		return st.State == statusapi.StateOffline && len(st.Remotes) == 1 && st.Remotes[0].LastError != ""
	})
	if r := st.Remotes[0]; !strings.Contains(r.LastError, "unreachable") || !strings.Contains(r.LastError, "trying again") {
		t.Fatalf("the remote's status with an unusable state: %+v", r)
	}

	srv.Start()
	st = waitForOrExit(t, d, done, "a snapshot once the remote is back", func(st statusapi.Status) bool {
		return st.LastSnapshot != nil && st.LastSnapshot.Seq > firstSeq && idle(st)
	})
	if st.Offline != nil {
		t.Fatalf("status after the remote came back: %s", statusJSON(st))
	}
}

// TestOfflineRestartBeforeUploadTakenOver: the daemon backed up from the
// state and was stopped before the remote came back; meanwhile another
// device committed the same sequence. Started again with the remote up,
// it loads both deltas as a fork: its uploader must stop as taken over,
// as without the restart, and upload nothing beside the other device's
// delta.
func TestOfflineRestartBeforeUploadTakenOver(t *testing.T) {
	srv, in, _, _, done, offline := backedUpOffline(t)
	done.stop(t)

	phoneBacksUp(t, srv.ObjectsDir(), in.key)
	after := deltaSeqs(t, srv.ObjectsDir())

	srv.Start()
	d, done := startOffline(t, in, daemon.Options{Retry: fastRetry})
	waitForOrExit(t, d, done, "the take-over", func(st statusapi.Status) bool {
		return st.State == statusapi.StateTakenOver && st.TakenOver != nil && st.TakenOver.Hostname == "phone"
	})
	if got := deltaSeqs(t, srv.ObjectsDir()); fmt.Sprint(got) != fmt.Sprint(after) {
		t.Fatalf("the remote holds %v after the restart, want the other device's %v", got, after)
	}
	spool := strings.Join(spoolFiles(t, in.state), "\n")
	for _, p := range offline {
		if !strings.Contains(spool, p) {
			t.Fatalf("the offline delta %s left the spool (%s)", p, spool)
		}
	}
}

// backedUpOffline runs a daemon online once, stops its remote, starts it
// again from its state and has it back up 30 new messages into the spool.
// It returns the spool's files as the last cycle left them (not a cycle's
// partial delta).
func backedUpOffline(t *testing.T) (*remotetest.Server, *install, *chatDB, *daemon.Daemon, *runExit, []string) {
	t.Helper()
	srv := remotetest.StartWebDAV(t, t.TempDir())
	in := newInstallSpec(t, []string{srv.Spec}, "")
	chat := openChat(t, in.src)
	ranOnline(t, in, chat)

	srv.Stop()
	chat.write(t, 30)
	d, done := startedFromState(t, in)
	backupNow(t, d)
	waitForOrExit(t, d, done, "the offline snapshot counted", func(st statusapi.Status) bool {
		return st.Offline != nil && st.Offline.Snapshots >= 1
	})
	_, offline := atRest(t, d, func() []string { return spoolFiles(t, in.state) })
	return srv, in, chat, d, done, offline
}

// phoneBacksUp has another device ("phone") back up a note into the
// repository in objectsDir and upload it, as a phone that took over
// while this one was offline.
func phoneBacksUp(t *testing.T, objectsDir string, key crypt.Key) {
	t.Helper()
	other, err := store.Open(t.Context(), storetest.OpenRemote(t, objectsDir), key,
		store.Options{StateDir: t.TempDir(), DeviceID: [16]byte{9}, Hostname: "phone"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	src := t.TempDir()
	storetest.WriteFile(t, filepath.Join(src, "note.txt"), []byte("written on the phone"))
	if _, err := backup.Run(t.Context(), other, backup.Options{Source: src}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
}
