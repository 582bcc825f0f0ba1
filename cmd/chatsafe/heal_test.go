package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
)

// A device backs up to two local remotes, "local" (the first, which it
// reads) and "local-2". A delta lost or damaged on the first remote that
// the second holds intact is copied back by `chatsafe repair`, not cut
// out of the history with every delta after it.

// healDevice is a device with two local remotes and seven snapshots:
// snapshot i holds chat.txt = dayContent(i).
type healDevice struct {
	device
	first, second, keyFile string
}

func dayContent(i int) string { return fmt.Sprintf("messages up to day %d\n", i) }

func newHealDevice(t *testing.T) healDevice {
	t.Helper()
	d := healDevice{device: newDevice(t, map[string]string{"chat.txt": dayContent(1)})}
	d.first, d.second, d.keyFile = filepath.Join(d.home, "first"), filepath.Join(d.home, "second"), filepath.Join(d.home, "key.txt")
	run(t, d.home, "init", "--source", d.src, "--remote", d.first, "--remote", d.second, "--config", d.cfg, "--state-dir", d.state, "--recovery-key-out", d.keyFile).want(t, 0, "recovery key")
	for i := 1; i <= 7; i++ {
		writeFiles(t, d.src, map[string]string{"chat.txt": dayContent(i)})
		run(t, d.home, "backup", "--config", d.cfg).want(t, 0, "saved")
	}
	if n := len(deltaPaths(t, d.first)); n != 7 {
		t.Fatalf("%d deltas after seven backups, want 7", n)
	}
	return d
}

// wantAllSnapshots checks that the config lists seven snapshots or more
// (exit 0) and that the first remote alone restores each of the first
// seven with its own content.
func (d healDevice) wantAllSnapshots(t *testing.T) {
	t.Helper()
	ids := damagedSnapshotIDs(t, d.home, 0, "--config", d.cfg)
	if len(ids) < 7 {
		t.Fatalf("%d snapshots listed, want 7: %v", len(ids), ids)
	}
	for i, id := range ids[:7] {
		restoreAndCompare(t, d.first, id, map[string]string{"chat.txt": dayContent(i + 1)}, "--recovery-key-file", d.keyFile)
	}
}

// said and notSaid report (and go on) unless out says, or does not say,
// what: a test then shows every way the output is wrong at once.
func said(t *testing.T, out, what string) {
	t.Helper()
	if !strings.Contains(out, what) {
		t.Errorf("the output does not say %q:\n%s", what, out)
	}
}

func notSaid(t *testing.T, out, what string) {
	t.Helper()
	if strings.Contains(out, what) {
		t.Errorf("the output says %q:\n%s", what, out)
	}
}

// TestRepairCopiesLostDeltaBack: delta 3 of 7 is removed from the first
// remote only. check says the second remote holds an intact copy that
// repair copies back (and does not call the deltas past the gap prune
// leftovers, nor the intact second remote an error); repair --dry-run
// plans the copy and moves nothing aside; repair copies it back, and all
// seven snapshots stay listed and restorable from the first remote.
func TestRepairCopiesLostDeltaBack(t *testing.T) {
	d := newHealDevice(t)
	lost := deltaPaths(t, d.first)[2]
	name := "deltas/" + filepath.Base(lost)
	if err := os.Rename(lost, filepath.Join(t.TempDir(), filepath.Base(lost))); err != nil {
		t.Fatal(err)
	}

	r := run(t, d.home, "check", "--config", d.cfg)
	r.want(t, 6, name)
	said(t, sectionOf(r, "local"), "remote local-2 holds an intact copy of "+name+": `chatsafe repair` copies it back")
	notSaid(t, r.stderr, "interrupted prune")
	// The second remote holds every delta: the first one's damage is no
	// error of its own.
	notSaid(t, sectionOf(r, "local-2"), "error:")

	before := storetest.DirDigest(t, d.first, nil)
	r = run(t, d.home, "repair", "--config", d.cfg, "--dry-run")
	r.want(t, 0, "")
	said(t, r.stdout, "copy back: "+name+" from local-2")
	notSaid(t, r.stdout, "move aside")
	if after := storetest.DirDigest(t, d.first, nil); len(after) != len(before) {
		t.Fatal("repair --dry-run changed the first remote")
	}

	r = run(t, d.home, "repair", "--config", d.cfg)
	r.want(t, 0, "")
	said(t, r.stdout, "copied back: "+name+" from local-2")
	notSaid(t, r.stdout, "move aside")
	if _, err := os.Stat(filepath.Join(d.first, filepath.FromSlash(name))); err != nil {
		t.Errorf("the lost delta is not back on the first remote: %v", err)
	}
	if _, err := os.Stat(filepath.Join(d.first, "damaged")); !os.IsNotExist(err) {
		t.Errorf("repair moved deltas aside (%v)", err)
	}
	run(t, d.home, "check", "--config", d.cfg).want(t, 0, "no errors")
	d.wantAllSnapshots(t)

	writeFiles(t, d.src, map[string]string{"chat.txt": dayContent(8)})
	run(t, d.home, "backup", "--config", d.cfg).want(t, 0, "saved")
	if ids := damagedSnapshotIDs(t, d.home, 0, "--config", d.cfg); len(ids) != 8 {
		t.Fatalf("%d snapshots after the next backup, want 8", len(ids))
	}
	if eight, _ := filepath.Glob(filepath.Join(d.first, "deltas", "0000000000000008-*")); len(eight) != 1 {
		t.Fatalf("the backup after the repair did not commit sequence 8: %v", eight)
	}
}
