package main

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
)

// TestBackupWithFirstRemoteGone: the folder of the only remote went away
// (a drive not mounted) after a backup. `backup` must not tell the user to
// run `chatsafe init` (a repository was there, and init would refuse this
// state directory): it exits 5 naming the mount as the thing to check,
// keeps the snapshot in the spool, never makes the folder again, and the
// next backup once the folder is back uploads it.
func TestBackupWithFirstRemoteGone(t *testing.T) {
	s := newSetup(t)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	away := s.remote + ".away"
	if err := os.Rename(s.remote, away); err != nil {
		t.Fatal(err)
	}
	write(t, s.src, "notes.txt", "while the drive was away")
	r := run(t, s.home, "backup", "--config", s.cfg)
	r.want(t, 5, "mounted")
	if strings.Contains(r.stderr, "chatsafe init") {
		t.Errorf("a gone remote reads as one never set up:\n%s", r.stderr)
	}
	if _, err := os.Stat(s.remote); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the gone remote's folder was made again (stat: %v)", err)
	}
	// Reseeding the first remote is refused: nothing could fill it.
	run(t, s.home, "backup", "--config", s.cfg, "--reseed", "local").want(t, 2, "first remote")
	run(t, s.home, "backup", "--config", s.cfg, "--reseed", "nosuch").want(t, 2, `no remote "nosuch"`)

	if err := os.Rename(away, s.remote); err != nil {
		t.Fatal(err)
	}
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "")
	dst := t.TempDir() + "/restored"
	run(t, s.home, "restore", "--config", s.cfg, "--to", dst).want(t, 0, "restored")
	if b, err := os.ReadFile(dst + "/notes.txt"); err != nil || string(b) != "while the drive was away" {
		t.Fatalf("the snapshot taken while the remote was gone: %q, %v", b, err)
	}
}
