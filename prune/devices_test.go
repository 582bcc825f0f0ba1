package prune_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/store"
)

// TestPolicyKeepsEachDeviceNewest: phone A wrote 1-6 and went on to 9
// after laptop B joined at 6; B wrote 10-20. keep_last 2 keeps B's 19 and
// 20, and A's 9 as the newest of device A; legacy snapshots (no device
// id) from B's host and source count as B's, those from elsewhere as a
// device of their own.
func TestPolicyKeepsEachDeviceNewest(t *testing.T) {
	a, b := [16]byte{0xaa, 1, 2, 3}, [16]byte{0xbb, 4, 5, 6}
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	snap := func(seq int, dev [16]byte, host, src string) store.Snapshot {
		return store.Snapshot{ID: [16]byte{byte(seq)}, Seq: uint64(seq), Time: base.Add(time.Duration(seq) * time.Minute), Device: dev, Hostname: host, Source: src}
	}
	var snaps []store.Snapshot
	snaps = append(snaps, snap(1, [16]byte{}, "old", "/chats"), snap(2, [16]byte{}, "laptop", "/home/b/chats"))
	for seq := 3; seq <= 9; seq++ {
		snaps = append(snaps, snap(seq, a, "phone", "/data/chats"))
	}
	for seq := 10; seq <= 20; seq++ {
		snaps = append(snaps, snap(seq, b, "laptop", "/home/b/chats"))
	}
	kept := map[uint64]string{}
	for _, d := range prune.ApplyPolicy(snaps, prune.Policy{KeepLast: 2}) {
		if d.Keep {
			kept[d.Snapshot.Seq] = strings.Join(d.Reasons, ", ")
		}
	}
	want := map[uint64]string{20: "last", 19: "last", 9: "newest of device phone/aa010203", 1: "newest of device old:/chats"}
	if len(kept) != len(want) {
		t.Fatalf("kept %v, want %v", kept, want)
	}
	for seq, why := range want {
		if kept[seq] != why {
			t.Errorf("snapshot %d kept for %q, want %q", seq, kept[seq], why)
		}
	}

	for _, name := range []string{"aa010203", "AA01", "phone/aa01", "phone/aa010203", "aa010203000000000000000000000000"} {
		p := prune.Policy{KeepLast: 2, ForgetDevices: []string{name}}
		if err := prune.CheckForgetDevices(snaps, p); err != nil {
			t.Errorf("--forget-device %s: %v", name, err)
		}
		for _, d := range prune.ApplyPolicy(snaps, p) {
			if d.Snapshot.Seq == 9 && d.Keep {
				t.Errorf("--forget-device %s still keeps A's newest", name)
			}
		}
	}
	for _, name := range []string{"bb040506", "laptop/bb04", "aa0", "cc", "tablet/aa01", "old:/other"} {
		err := prune.CheckForgetDevices(snaps, prune.Policy{ForgetDevices: []string{name}})
		if !errors.Is(err, prune.ErrUnknownDevice) || !strings.Contains(err.Error(), "phone/aa010203") {
			t.Errorf("--forget-device %s: %v, want an unknown device listing phone/aa010203", name, err)
		}
	}
	if err := prune.CheckForgetDevices(snaps, prune.Policy{ForgetDevices: []string{"old:/chats"}}); err != nil {
		t.Errorf("--forget-device of a device without id: %v", err)
	}
	// An empty policy keeps everything; the device rule adds nothing.
	for _, d := range prune.ApplyPolicy(snaps, prune.Policy{}) {
		if !d.Keep || d.NewestOf != "" {
			t.Fatalf("no policy: snapshot %d keep %v, newest of %q", d.Snapshot.Seq, d.Keep, d.NewestOf)
		}
	}
}
