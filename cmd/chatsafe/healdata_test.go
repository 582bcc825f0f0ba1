package main

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
)

// Damage inside a blob of a live delta (a flipped byte in the middle of
// it: its trailer still authenticates) is found by `check --read-data`
// only, and repaired by `repair --read-data`, which reads every blob too:
// copied back from another remote that holds the delta intact, or else
// cut out of the history as a lost delta is.

// flipInBlob flips a byte inside the first blob of the delta file at p
// (blobs start at offset 0), this remote's file alone (spoil).
func flipInBlob(t *testing.T, p string) {
	t.Helper()
	spoil(t, p, func(b []byte) []byte {
		b[20] ^= 0x40
		return b
	})
}

// TestRepairReadDataCopiesBackBlobDamage: a byte inside a blob of delta 3
// of 7 is flipped on the first remote only. check --read-data names it and
// the second remote's intact copy, with the command that uses it; repair
// without --read-data reads no blob and says so; repair --read-data puts
// the copy in its place, and check --read-data is clean again, every
// snapshot restoring byte for byte from the first remote.
func TestRepairReadDataCopiesBackBlobDamage(t *testing.T) {
	d := newHealDevice(t)
	p := deltaPaths(t, d.first)[2]
	name := "deltas/" + filepath.Base(p)
	flipInBlob(t, p)

	r := run(t, d.home, "check", "--config", d.cfg, "--read-data")
	r.want(t, 6, name)
	said(t, sectionOf(r, "local"), "remote local-2 holds an intact copy of "+name+": "+cmdOf(d.cfg, "repair --read-data")+" copies it back")
	notSaid(t, sectionOf(r, "local-2"), "error:")

	r = run(t, d.home, "repair", "--config", d.cfg)
	r.want(t, 0, "nothing to repair")
	said(t, r.stdout, cmdOf(d.cfg, "repair --read-data"))

	before := storetest.DirDigest(t, d.first, nil)
	r = run(t, d.home, "repair", "--config", d.cfg, "--read-data", "--dry-run")
	r.want(t, 0, "")
	said(t, r.stdout, name)
	said(t, r.stdout, "copy back: "+name+" from local-2")
	said(t, r.stdout, "nothing was changed; "+cmdOf(d.cfg, "repair --read-data")+" does the above")
	notSaid(t, r.stdout, "move aside")
	if after := storetest.DirDigest(t, d.first, nil); !maps.Equal(before, after) {
		t.Fatal("repair --read-data --dry-run changed the first remote")
	}

	r = run(t, d.home, "repair", "--config", d.cfg, "--read-data")
	r.want(t, 0, "")
	said(t, r.stdout, "copied back: "+name+" from local-2")
	said(t, r.stdout, "the history is whole again at sequence 7, 7 snapshots")
	notSaid(t, r.stdout, "move aside")
	if _, err := os.Stat(filepath.Join(d.first, "damaged", filepath.Base(p))); err != nil {
		t.Errorf("the damaged object was not kept in damaged/: %v", err)
	}
	run(t, d.home, "check", "--config", d.cfg, "--read-data").want(t, 0, "no errors")
	d.wantAllSnapshots(t)
}

// TestRepairReadDataCutsBlobDamageOnBoth: the same byte is flipped on
// both remotes. check --read-data says no remote holds an intact copy and
// what repair then does; repair --read-data keeps snapshots 1 and 2,
// moves deltas 3 to 7 to damaged/ and names the five snapshots lost;
// check --read-data is clean again, and the two kept snapshots restore
// byte for byte.
func TestRepairReadDataCutsBlobDamageOnBoth(t *testing.T) {
	d := newHealDevice(t)
	p := deltaPaths(t, d.first)[2]
	name := "deltas/" + filepath.Base(p)
	flipInBlob(t, p)
	flipInBlob(t, filepath.Join(d.second, "deltas", filepath.Base(p)))
	ids := damagedSnapshotIDs(t, d.home, 0, "--config", d.cfg)
	if len(ids) != 7 {
		t.Fatalf("%d snapshots listed before the repair, want 7 (the structure is intact)", len(ids))
	}

	r := run(t, d.home, "check", "--config", d.cfg, "--read-data")
	r.want(t, 6, name)
	said(t, sectionOf(r, "local"), "no other remote holds an intact copy of "+name+": "+cmdOf(d.cfg, "repair --read-data")+" moves the history past it to damaged/")

	r = run(t, d.home, "repair", "--config", d.cfg, "--read-data")
	r.want(t, 0, "2 snapshots kept")
	said(t, r.stdout, name)
	said(t, r.stdout, "not used: remote local-2 holds a copy of "+name+" that does not verify")
	notSaid(t, r.stdout, "copied back")
	for _, id := range ids[2:] {
		said(t, r.stdout, "lose: snapshot "+id[:8])
	}
	for _, id := range ids[:2] {
		notSaid(t, r.stdout, "lose: snapshot "+id[:8])
	}
	if moved, _ := filepath.Glob(filepath.Join(d.first, "damaged", "*")); len(moved) != 5 {
		t.Fatalf("moved aside: %v, want deltas 3 to 7", moved)
	}
	run(t, d.home, "check", "--config", d.cfg, "--read-data").want(t, 0, "no errors")
	kept := damagedSnapshotIDs(t, d.home, 0, "--config", d.cfg)
	if strings.Join(kept, " ") != strings.Join(ids[:2], " ") {
		t.Fatalf("snapshots after the repair: %v, want %v", kept, ids[:2])
	}
	for i, id := range kept {
		restoreAndCompare(t, d.first, id, map[string]string{"chat.txt": dayContent(i + 1)}, "--recovery-key-file", d.keyFile)
	}
}

// TestRepairReadDataWaitsForUnmountedRemote: a blob of delta 3 is
// damaged on the first remote and the second remote's folder is gone (an
// unmounted drive looks the same): repair --read-data cuts nothing and
// exits 5 naming it; once it is back the copy comes from it.
func TestRepairReadDataWaitsForUnmountedRemote(t *testing.T) {
	d := newHealDevice(t)
	p := deltaPaths(t, d.first)[2]
	flipInBlob(t, p)
	if err := os.Rename(d.second, d.second+".away"); err != nil {
		t.Fatal(err)
	}
	before := storetest.DirDigest(t, d.first, nil)
	run(t, d.home, "repair", "--config", d.cfg, "--read-data").want(t, exitUnreachable, "local-2")
	if after := storetest.DirDigest(t, d.first, nil); !maps.Equal(before, after) {
		t.Fatal("repair changed the first remote while the second one was gone")
	}
	if err := os.Rename(d.second+".away", d.second); err != nil {
		t.Fatal(err)
	}
	r := run(t, d.home, "repair", "--config", d.cfg, "--read-data")
	r.want(t, 0, "copied back: deltas/"+filepath.Base(p)+" from local-2")
	notSaid(t, r.stdout, "move aside")
	d.wantAllSnapshots(t)
}
