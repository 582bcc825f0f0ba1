//go:build linux

package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/internal/tmpfs"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/store"
)

// TestStateDiskFull: the daemon's state directory (spool, caches) fills
// up. The cycle fails with an error that says so, in the status; the
// daemon keeps running; once space is back the next cycle completes and
// the remote passes check --read-data and restores to the directory.
func TestStateDiskFull(t *testing.T) {
	state := tmpfs.Mount(t, 16<<20)
	remote := filepath.Join(t.TempDir(), "remote")
	in := newInstallOn(t, []string{remote}, "", state)
	chat := openChat(t, in.src)
	chat.write(t, 100)
	d := runInProcess(t, in, daemon.Options{})
	first := waitFor(t, d, "the first snapshot", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })

	var fs syscall.Statfs_t
	if err := syscall.Statfs(state, &fs); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(state, "filler")
	if err := os.WriteFile(filler, make([]byte, int64(fs.Bavail)*fs.Bsize-256<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in.src, "Media", "VID-1.mp4"), randomBytes(1, 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	chat.write(t, 10)
	_, err := d.Backup(t.Context(), statusapi.BackupRequest{})
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("backup with the state directory full: %v; want an error that says the disk is full", err)
	}
	// The watcher saw the same writes and starts cycles of its own, and a
	// failed cycle is retried: the status and the spool are looked at while
	// no cycle runs (each of those cycles fails the same way).
	st, spooled := atRest(t, d, func() []string { return spoolFiles(t, in.state) })
	if st.State != statusapi.StateError || !strings.Contains(st.LastError, "no space left on device") || st.LastSnapshot.Seq != first.LastSnapshot.Seq {
		t.Fatalf("status with the disk full: %s", statusJSON(st))
	}
	if len(spooled) != 0 {
		t.Fatalf("files left in the spool by the failed cycle: %v", spooled)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	res := backupNow(t, d)
	if res.Snapshot == nil || res.Snapshot.Seq != first.LastSnapshot.Seq+1 {
		t.Fatalf("backup once space is back: %+v", res)
	}
	waitFor(t, d, "the upload", func(st statusapi.Status) bool { return idle(st) && st.LastError == "" })
	r, err := remotes.Open(t.Context(), remote, remotes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rp, err := store.Open(t.Context(), r, in.key, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	if _, err := check.Run(t.Context(), rp, check.Options{ReadData: true}); err != nil {
		t.Fatalf("check --read-data once space is back: %v", err)
	}
	sameTree(t, in.src, restoreFrom(t, remote, in.key))
}

// TestStateDiskFullRetried: a cycle fails on a full disk; space comes
// back and nothing else changes. The daemon retries the cycle by itself
// (with backoff), commits the change and clears the error.
func TestStateDiskFullRetried(t *testing.T) {
	state := tmpfs.Mount(t, 16<<20)
	remote := filepath.Join(t.TempDir(), "remote")
	in := newInstallOn(t, []string{remote}, "", state)
	chat := openChat(t, in.src)
	chat.write(t, 100)
	d := runInProcess(t, in, daemon.Options{})
	first := waitFor(t, d, "the first snapshot", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })

	var fs syscall.Statfs_t
	if err := syscall.Statfs(state, &fs); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(state, "filler")
	if err := os.WriteFile(filler, make([]byte, int64(fs.Bavail)*fs.Bsize-256<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in.src, "Media", "VID-1.mp4"), randomBytes(1, 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, d, "the cycle to fail on the full disk, saying to free space", func(st statusapi.Status) bool {
		return st.State == statusapi.StateError && strings.Contains(st.LastError, "no space left on device") &&
			strings.Contains(st.LastError, "free some space")
	})
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, d, "the retried cycle", func(st statusapi.Status) bool {
		return st.LastSnapshot != nil && st.LastSnapshot.Seq > first.LastSnapshot.Seq && idle(st) && st.LastError == ""
	})
	if st.LastSnapshot.Files != first.LastSnapshot.Files+1 {
		t.Fatalf("retried snapshot has %d files, want %d", st.LastSnapshot.Files, first.LastSnapshot.Files+1)
	}
}
