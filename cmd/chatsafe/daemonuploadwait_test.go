package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/remotes/remotetest"
	"github.com/chatsafe/chatsafe/statusapi"
)

// TestBackupThroughDaemonReportsItsOwnUpload: the daemon answers `backup`
// once its uploaders have tried this backup's deltas, so the exit code is
// about this backup's upload, as it is for a backup run with no daemon;
// not about the uploader's try before it. The WebDAV server of the only
// remote stops right before a backup: that very backup exits 5; one with
// nothing changed while it is still down exits 5 too (the delta still
// waits). Started again, the first backup after it, with nothing changed,
// exits 0 and says no delta waits: the daemon uploaded it before answering.
func TestBackupThroughDaemonReportsItsOwnUpload(t *testing.T) {
	srv := remotetest.StartWebDAV(t, t.TempDir())
	home := t.TempDir()
	src := filepath.Join(home, "chats")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, src, "msgstore.txt", "hello")
	cfg := filepath.Join(home, "inst", "chatsafe.yaml")
	run(t, home, "init", "--source", src, "--remote", srv.Spec, "--config", cfg).want(t, 0, "recovery key")
	shortRetry(t, cfg) // a try on the stopped server gives up within 1s
	sock := filepath.Join(home, "inst", "state", "chatsafe.sock")
	startDaemonBinary(t, home, cfg, sock)
	waitStatus(t, sock, nil, func(st statusapi.Status) bool {
		return st.LastSnapshot != nil && st.PendingDeltas == 0
	}, func(st statusapi.Status, err error) string {
		return fmt.Sprintf("the daemon's first snapshot is not uploaded after 60s: %+v, %v", st, err)
	}, nil)

	srv.Stop()
	write(t, src, "notes.txt", "while the server is down")
	run(t, home, "backup", "--config", cfg).want(t, exitUnreachable, "chatsafe: "+savedLocally+": ")
	run(t, home, "backup", "--config", cfg).want(t, exitUnreachable, "chatsafe: "+savedLocally+": ")

	srv.Start()
	r := run(t, home, "backup", "--json", "--config", cfg)
	r.want(t, 0, `"pending_deltas": 0`)
	r.want(t, 0, `"unchanged": true`)
}
