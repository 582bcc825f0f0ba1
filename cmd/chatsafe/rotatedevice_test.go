package main

import (
	"path/filepath"
	"testing"
)

// TestRotateKeepsOldDeviceNewest: B joined while A went on backing up
// (joinTrial) and backs up itself; B rotates the key. `chatsafe
// snapshots` still names A as the device of A's newest snapshot, and
// prune with keep_last 2 keeps it as the newest of device A (the only
// snapshot holding A's messages 31 to 42), restorable with the new key.
func TestRotateKeepsOldDeviceNewest(t *testing.T) {
	tr := newJoinTrial(t, "retention:\n  keep_last: 2\n")
	aDev := deviceOf(t, machine{home: tr.a.home})
	for i := range 3 {
		tr.bBackup(t, 1000+i*5, 1005+i*5)
	}
	newKey := filepath.Join(tr.b.home, "new-key.txt")
	run(t, tr.b.home, "key", "rotate", "--config", tr.b.cfg, "--recovery-key-out", newKey).want(t, 0, "NEW RECOVERY KEY")
	tr.key = newKey
	if s, ok := tr.has(t, tr.aNewest.ID); !ok || s.Device != aDev {
		t.Fatalf("after B rotated the key, A's newest snapshot %s: listed %v, device %q (want A's, %q)", tr.aNewest.ShortID, ok, s.Device, aDev)
	}
	run(t, tr.b.home, "prune", "--config", tr.b.cfg).want(t, 0, "forgot")
	s, ok := tr.has(t, tr.aNewest.ID)
	if !ok {
		t.Fatalf("the prune after B's key rotation forgot A's newest snapshot %s: the messages A backed up after B joined are gone", tr.aNewest.ShortID)
	}
	if s.Device != aDev || !containsPrefix(s.KeepReasons, "newest of device") {
		t.Fatalf("A's newest after the rotation and a prune: device %q (want %q), keep reasons %q", s.Device, aDev, s.KeepReasons)
	}
	if got := tr.restoreDigest(t, tr.aNewest.ID); got != tr.aNewestDigest {
		t.Fatalf("A's newest snapshot restores %s, want A's database %s", got, tr.aNewestDigest)
	}
}
