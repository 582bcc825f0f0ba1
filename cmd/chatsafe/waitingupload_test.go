package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/remotes/remotetest"
)

// TestBackupSaysWhatWaitedWasUploaded: a backup whose upload to one of
// two remotes failed (exit 5) leaves its delta waiting for that remote.
// The next backup, with nothing changed, uploads it, and says so: how
// many deltas that were waiting went to which remote, besides "nothing
// changed".
func TestBackupSaysWhatWaitedWasUploaded(t *testing.T) {
	srv := remotetest.StartWebDAV(t, t.TempDir())
	home := t.TempDir()
	src, cfg := filepath.Join(home, "chats"), filepath.Join(home, "chatsafe.yaml")
	os.MkdirAll(src, 0o755)
	write(t, src, "msgstore.txt", "day 1")
	run(t, home, "init", "--source", src, "--remote", filepath.Join(home, "remote"), "--remote", srv.Spec,
		"--config", cfg, "--state-dir", filepath.Join(home, "state")).want(t, 0, "recovery key")
	run(t, home, "backup", "--config", cfg).want(t, 0, "saved")
	rems := loadConfig(t, cfg).Remotes
	local, dav := rems[0].Name, rems[1].Name

	shortRetry(t, cfg)
	srv.Stop()
	write(t, src, "msgstore.txt", "day 2")
	run(t, home, "backup", "--config", cfg).want(t, exitUnreachable, "saved locally")

	srv.Start()
	r := run(t, home, "backup", "--config", cfg)
	r.want(t, 0, "nothing changed since snapshot")
	if want := "uploaded 1 delta that was waiting: to " + dav; !strings.Contains(r.stdout, want) {
		t.Errorf("the backup that uploaded the waiting delta does not say %q:\n%s", want, r.stdout)
	}
	if strings.Contains(r.stdout, local) {
		t.Errorf("the backup names %s, which held the delta already:\n%s", local, r.stdout)
	}
	// Nothing waits now: the next one says nothing of uploads.
	r = run(t, home, "backup", "--config", cfg)
	r.want(t, 0, "nothing changed since snapshot")
	if strings.Contains(r.stdout, "uploaded") {
		t.Errorf("a backup with nothing waiting says it uploaded:\n%s", r.stdout)
	}
}
