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
	said(t, sectionOf(r, "local"), "remote local-2 holds an intact copy of "+name+": "+cmdOf(d.cfg, "repair")+" copies it back")
	said(t, sectionOf(r, "local"), "4 deltas past the damage")
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

// spoil rewrites the file at p with edit applied, as a new file: the
// remotes may share one file between them (a local remote hard-links a
// spooled delta), and only this one is to change.
func spoil(t *testing.T, p string, edit func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, edit(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRepairReplacesDamagedDelta: delta 3 is truncated on the first
// remote only. repair moves the damaged object to damaged/, copies the
// second remote's intact copy in its place, and every snapshot stays.
func TestRepairReplacesDamagedDelta(t *testing.T) {
	d := newHealDevice(t)
	p := deltaPaths(t, d.first)[2]
	name := "deltas/" + filepath.Base(p)
	spoil(t, p, func(b []byte) []byte { return b[:len(b)/2] })

	r := run(t, d.home, "check", "--config", d.cfg)
	r.want(t, 6, name)
	section := sectionOf(r, "local")
	said(t, section, "remote local-2 holds an intact copy of "+name)
	said(t, section, "1 object named like deltas that cannot be read")
	said(t, section, "4 deltas past the damage")
	notSaid(t, r.stderr, "interrupted prune")

	r = run(t, d.home, "repair", "--config", d.cfg)
	r.want(t, 0, "")
	said(t, r.stdout, "copied back: "+name+" from local-2")
	said(t, r.stdout, "moved to damaged/ first")
	said(t, r.stdout, "the history is whole again at sequence 7, 7 snapshots")
	if b, err := os.ReadFile(filepath.Join(d.first, "damaged", filepath.Base(p))); err != nil || len(b) == 0 {
		t.Fatalf("the damaged object was not kept in damaged/: %v", err)
	}
	run(t, d.home, "check", "--config", d.cfg, "--read-data").want(t, 0, "no errors")
	d.wantAllSnapshots(t)
}

// TestRepairDoesNotUseTamperedCopy: delta 3 is gone from the first remote
// and the second remote's copy has a byte flipped, in a blob or in its
// trailer. That copy is never used: check says no remote holds an intact
// one, and repair falls back to keeping the intact history (snapshots 1
// and 2) and moving the rest to damaged/.
func TestRepairDoesNotUseTamperedCopy(t *testing.T) {
	for _, tc := range []struct {
		name string
		off  int // negative: from the end
	}{{"blob", 20}, {"trailer", -30}} {
		t.Run(tc.name, func(t *testing.T) {
			d := newHealDevice(t)
			lost := deltaPaths(t, d.first)[2]
			name := "deltas/" + filepath.Base(lost)
			if err := os.Remove(lost); err != nil {
				t.Fatal(err)
			}
			spoil(t, filepath.Join(d.second, filepath.FromSlash(name)), func(b []byte) []byte {
				i := tc.off
				if i < 0 {
					i += len(b)
				}
				b[i] ^= 0x40
				return b
			})

			r := run(t, d.home, "check", "--config", d.cfg)
			r.want(t, 6, name)
			said(t, sectionOf(r, "local"), "no other remote holds an intact copy of "+name)
			notSaid(t, r.stderr, "local-2 holds an intact copy")

			r = run(t, d.home, "repair", "--config", d.cfg, "--dry-run")
			r.want(t, 0, "")
			notSaid(t, r.stdout, "copy back")
			said(t, r.stdout, "move aside: ")
			if tc.name == "blob" {
				said(t, r.stdout, "not used: remote local-2 holds a copy of "+name+" that does not verify")
			}

			r = run(t, d.home, "repair", "--config", d.cfg)
			r.want(t, 0, "2 snapshots kept")
			notSaid(t, r.stdout, "copied back")
			if _, err := os.Stat(filepath.Join(d.first, filepath.FromSlash(name))); !os.IsNotExist(err) {
				t.Fatalf("a copy that does not verify was put on the first remote (%v)", err)
			}
			if moved, _ := filepath.Glob(filepath.Join(d.first, "damaged", "*")); len(moved) != 4 {
				t.Fatalf("moved aside: %v, want deltas 4 to 7", moved)
			}
			if ids := damagedSnapshotIDs(t, d.home, 0, "--config", d.cfg); len(ids) != 2 {
				t.Fatalf("%d snapshots after the repair, want 2", len(ids))
			}
		})
	}
}

// TestCheckSaysWhatUnreferencedObjectsAre: a file that is no delta and a
// junk object named like a newer delta lie in the first remote's deltas/.
// check names each for what it is, never as an interrupted prune's
// leftover; repair moves the junk aside keeping every snapshot, and the
// file that is no delta stays, said to be left alone.
func TestCheckSaysWhatUnreferencedObjectsAre(t *testing.T) {
	d := newHealDevice(t)
	writeFiles(t, filepath.Join(d.first, "deltas"), map[string]string{
		"notes.txt": "mine",
		"0000000000000009-00000000000000000000000000000000": "not a delta",
	})
	r := run(t, d.home, "check", "--config", d.cfg)
	r.want(t, 6, "0000000000000009-")
	section := sectionOf(r, "local")
	said(t, section, "1 object named like deltas that cannot be read")
	said(t, section, "1 file under deltas/ not named like a delta: chatsafe neither reads nor deletes them")
	said(t, section, "no other remote holds an intact copy of deltas/0000000000000009-")
	notSaid(t, r.stderr, "interrupted prune")
	notSaid(t, sectionOf(r, "local-2"), "error:")

	run(t, d.home, "repair", "--config", d.cfg).want(t, 0, "7 snapshots kept")
	r = run(t, d.home, "check", "--config", d.cfg)
	r.want(t, 0, "no errors")
	said(t, sectionOf(r, "local"), "1 file under deltas/ not named like a delta")
	d.wantAllSnapshots(t)
}

// TestRepairWaitsForAnUnmountedRemote: the second remote's folder is gone
// (an unmounted drive looks the same): repair cuts nothing and exits 5,
// try again later, naming it; once it is back the copy comes from it.
func TestRepairWaitsForAnUnmountedRemote(t *testing.T) {
	d := newHealDevice(t)
	lost := deltaPaths(t, d.first)[2]
	if err := os.Rename(lost, filepath.Join(t.TempDir(), filepath.Base(lost))); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(d.second, d.second+".away"); err != nil {
		t.Fatal(err)
	}
	run(t, d.home, "repair", "--config", d.cfg).want(t, exitUnreachable, "local-2")
	if err := os.Rename(d.second+".away", d.second); err != nil {
		t.Fatal(err)
	}
	r := run(t, d.home, "repair", "--config", d.cfg)
	r.want(t, 0, "")
	notSaid(t, r.stdout, "move aside")
	d.wantAllSnapshots(t)
}
