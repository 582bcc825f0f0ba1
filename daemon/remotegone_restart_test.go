package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/statusapi"
)

// TestRemoteFolderGoneAcrossRestart: the folder of a second local remote
// goes away while the daemon is stopped (a drive unmounted over a
// reboot). The daemon that starts next knows, from its state directory,
// that this remote held the repository: it must not make a new
// repository there (config and deltas on whatever disk is mounted now),
// but say where to look, and catch up once the folder is back.
func TestRemoteFolderGoneAcrossRestart(t *testing.T) {
	in := newInstall(t, 2)
	chat := openChat(t, in.src)
	chat.write(t, 40)
	d := runInProcess(t, in, daemon.Options{})
	waitFor(t, d, "the first snapshot on both remotes", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })
	stopInProcess(d)

	gone, away := moveAway(t, in, 1)
	chat.write(t, 10)
	d = runInProcess(t, in, daemon.Options{})
	res := backupNow(t, d)
	st := waitFor(t, d, "r0 up to date and r1 settled", func(st statusapi.Status) bool {
		if st.LastSnapshot == nil || st.LastSnapshot.Seq != res.Snapshot.Seq || len(st.Remotes) != 2 ||
			st.Remotes[0].Queued != 0 || st.Remotes[1].Uploading {
			return false
		}
		return st.Remotes[1].LastError != "" || st.Remotes[1].Queued == 0
	})
	notMadeAgain(t, gone)
	if r1 := st.Remotes[1]; !strings.Contains(r1.LastError, `"r1"`) || !strings.Contains(r1.LastError, "mounted") || r1.Queued == 0 {
		t.Errorf("the gone remote's status: %+v", r1)
	}
	if t.Failed() {
		t.FailNow()
	}

	bringBack(t, d, in, chat, 1, gone, away)
}

// TestFirstRemoteFolderGoneIsOffline: the folder of the first remote
// (the one the repository is read from) goes away while the daemon runs.
// That is the remote being out of reach, not damage: backups go on into
// the spool, the status names the remote and says to check the mount,
// nothing is written where the folder was, and once it is back every
// snapshot reaches it.
func TestFirstRemoteFolderGoneIsOffline(t *testing.T) {
	in := newInstall(t, 1)
	chat := openChat(t, in.src)
	chat.write(t, 40)
	d := runInProcess(t, in, daemon.Options{})
	first := waitFor(t, d, "the first snapshot", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })

	gone, away := moveAway(t, in, 0)
	chat.write(t, 10)
	res := backupNow(t, d)
	if res.Snapshot == nil || res.Snapshot.Seq <= first.LastSnapshot.Seq {
		t.Fatalf("the backup with the first remote gone committed nothing: %+v", res)
	}
	st := waitFor(t, d, "r0's error", func(st statusapi.Status) bool {
		return len(st.Remotes) == 1 && st.Remotes[0].LastError != "" && !st.Remotes[0].Uploading
	})
	if r0 := st.Remotes[0]; !strings.Contains(r0.LastError, "mounted") || strings.Contains(r0.LastError, "repair") || r0.Queued == 0 {
		t.Errorf("the first remote's status while its folder is gone: %+v", r0)
	}
	if st.Damage != nil || strings.Contains(st.LastError, "repair") {
		t.Errorf("a first remote whose folder is gone reads as damage: %s", statusJSON(st))
	}
	notMadeAgain(t, gone)
	if t.Failed() {
		t.FailNow()
	}

	bringBack(t, d, in, chat, 0, gone, away)
}

// TestFirstRemoteFolderGoneAtStart: the daemon starts while the first
// remote's folder is gone (a NAS share not mounted yet at boot). It must
// not exit telling the user to run `chatsafe init` (a repository was
// there): it starts offline from its state, backs up into the spool, and
// uploads once the folder is back.
func TestFirstRemoteFolderGoneAtStart(t *testing.T) {
	in := newInstall(t, 1)
	chat := openChat(t, in.src)
	chat.write(t, 40)
	d := runInProcess(t, in, daemon.Options{})
	waitFor(t, d, "the first snapshot", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })
	stopInProcess(d)

	gone, away := moveAway(t, in, 0)
	chat.write(t, 10)
	d, done := startOffline(t, in, daemon.Options{Retry: fastRetry})
	st := waitForOrExit(t, d, done, "r0's error", func(st statusapi.Status) bool {
		return len(st.Remotes) == 1 && st.Remotes[0].LastError != ""
	})
	if r0 := st.Remotes[0]; !strings.Contains(r0.LastError, "mounted") || strings.Contains(r0.LastError, "init") {
		t.Errorf("the first remote's status while its folder is gone at start: %+v", r0)
	}
	notMadeAgain(t, gone)
	if t.Failed() {
		t.FailNow()
	}
	if err := os.Rename(away, gone); err != nil {
		t.Fatal(err)
	}
	waitForOrExit(t, d, done, "r0 to catch up once its folder is back", func(st statusapi.Status) bool {
		return st.LastSnapshot != nil && idle(st) && st.Remotes[0].LastError == ""
	})
	sameTree(t, in.src, restoreFrom(t, gone, in.key))
}

// TestReseedFillsANewEmptyLocation: the second remote's disk was replaced
// by a new, empty one at the same path. The daemon refuses it as a
// repository gone, until the user says it is new on purpose (`backup
// --reseed r1`): then the whole repository is copied there, and it
// restores.
func TestReseedFillsANewEmptyLocation(t *testing.T) {
	in := newInstall(t, 2)
	chat := openChat(t, in.src)
	chat.write(t, 40)
	d := runInProcess(t, in, daemon.Options{})
	waitFor(t, d, "the first snapshot on both remotes", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })
	stopInProcess(d)

	if err := os.RemoveAll(in.remotes[1]); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(in.remotes[1], 0o755); err != nil {
		t.Fatal(err)
	}
	chat.write(t, 10)
	d = runInProcess(t, in, daemon.Options{})
	backupNow(t, d)
	waitFor(t, d, "r1's error", func(st statusapi.Status) bool {
		return len(st.Remotes) == 2 && strings.Contains(st.Remotes[1].LastError, "--reseed r1") && !st.Remotes[1].Uploading
	})
	if got := deltasUnder(t, in.remotes[1]); len(got) != 0 {
		t.Fatalf("the new, empty location was filled before the user asked: %v", got)
	}

	if _, err := d.Backup(context.Background(), statusapi.BackupRequest{Reseed: []string{"nosuch"}}); err == nil || !strings.Contains(err.Error(), `no remote "nosuch"`) {
		t.Fatalf("reseeding an unknown remote: %v", err)
	}
	chat.write(t, 5)
	if _, err := d.Backup(context.Background(), statusapi.BackupRequest{Reseed: []string{"r1"}}); err != nil {
		t.Fatalf("backup --reseed r1: %v", err)
	}
	waitFor(t, d, "r1 filled again", func(st statusapi.Status) bool { return idle(st) && st.Remotes[1].LastError == "" })
	sameTree(t, in.src, restoreFrom(t, in.remotes[1], in.key))
}

// moveAway renames the i-th remote's folder away, as an unmounted drive
// would leave it; it returns the folder's path and where it went.
func moveAway(t *testing.T, in *install, i int) (gone, away string) {
	t.Helper()
	gone = in.remotes[i]
	away = gone + ".away"
	if err := os.Rename(gone, away); err != nil {
		t.Fatal(err)
	}
	return gone, away
}

// bringBack renames the folder back, backs up one more change, and waits
// until the i-th remote caught up; that remote then restores the chats.
func bringBack(t *testing.T, d *daemon.Daemon, in *install, chat *chatDB, i int, gone, away string) {
	t.Helper()
	if err := os.Rename(away, gone); err != nil {
		t.Fatal(err)
	}
	chat.write(t, 5)
	backupNow(t, d)
	waitFor(t, d, fmt.Sprintf("r%d to catch up once its folder is back", i), func(st statusapi.Status) bool { return idle(st) && st.Remotes[i].LastError == "" })
	sameTree(t, in.src, restoreFrom(t, gone, in.key))
}

// notMadeAgain fails the test when the folder gone exists again.
func notMadeAgain(t *testing.T, gone string) {
	t.Helper()
	if _, err := os.Stat(gone); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the gone remote's folder was made again (stat: %v): %v", err, deltasUnder(t, gone))
	}
}
