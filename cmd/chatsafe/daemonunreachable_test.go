package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/statusapi"
)

// TestBackupThroughDaemonWithRemoteGone: the only remote's folder goes
// away while the daemon runs (moved, or a drive not mounted), and the
// daemon backs up into the spool. `backup` through it says what the same
// backup with no daemon says (the snapshot is saved locally and not
// uploaded, and the remote's error) and exits 5: a cron job must not read
// it as a backup that reached the remote; the very first backup after the
// folder went away does (the daemon answers once its uploader tried the
// new delta). `backup --json` exits 5 too. The first backup once the
// folder is back exits 0: the daemon uploaded what waited before answering.
func TestBackupThroughDaemonWithRemoteGone(t *testing.T) {
	s := newSetup(t)
	sock := filepath.Join(s.home, "run", "s.sock")
	setSocket(t, s.cfg, sock)
	startDaemonBinary(t, s.home, s.cfg, sock)
	// The daemon's first cycle backs up the chats; uploaded, the remote
	// holds the repository.
	waitStatus(t, sock, nil, func(st statusapi.Status) bool {
		return st.LastSnapshot != nil && st.PendingDeltas == 0
	}, func(st statusapi.Status, err error) string {
		return fmt.Sprintf("the daemon's first snapshot is not uploaded after 60s: %+v, %v", st, err)
	}, nil)

	away := s.remote + ".away"
	if err := os.Rename(s.remote, away); err != nil {
		t.Fatal(err)
	}
	// The daemon answers once its uploader tried this backup's delta: the
	// very first backup after the folder went away exits 5.
	write(t, s.src, "notes.txt", "while the drive was away")
	r := run(t, s.home, "backup", "--config", s.cfg)
	r.want(t, exitUnreachable, "chatsafe: "+savedLocally+": ")
	for _, want := range []string{`remote "local"`, "mounted"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the backup through the daemon does not say %q:\n%s", want, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, "saved by the daemon") {
		t.Errorf("the backup through the daemon does not say the snapshot was saved:\n%s", r.stdout)
	}
	run(t, s.home, "backup", "--json", "--config", s.cfg).want(t, exitUnreachable, `"by_daemon": true`)

	if err := os.Rename(away, s.remote); err != nil {
		t.Fatal(err)
	}
	// The first backup once it is back wakes the uploader out of its
	// backoff and answers after its upload: exit 0, nothing waits.
	write(t, s.src, "back.txt", "the drive is back")
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "0 deltas waiting for upload")
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "nothing changed")
}
