package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// deviceTrailer is a trailer written by device 0xb0 carrying a record
// device 0xa0 took (as a compaction or a key rotation on 0xb0 writes it)
// and one of its own.
func deviceTrailer() *trailer {
	a, b := [16]byte{0xa0, 1}, [16]byte{0xb0, 2}
	return &trailer{ID: [16]byte{3}, Seq: 5, Device: b, Hostname: "laptop", Snapshots: []Snapshot{
		{ID: [16]byte{1}, Seq: 2, Hostname: "phone", Source: "/data/chats", Device: a},
		{ID: [16]byte{2}, Seq: 5, Hostname: "laptop", Source: "/home/b/chats", Device: b,
			Incomplete: []Omission{{Path: "x", Reason: "denied"}}},
	}}
}

// TestTrailerSnapshotDevice: a delta carrying a record another device
// took is written as trailer version 8, each record naming its device; one
// whose records are all its own device's stays at the version it had
// (3 here), which chatsafe before version 8 reads, and its records read
// as the trailer's device, as every record of an older trailer does.
func TestTrailerSnapshotDevice(t *testing.T) {
	tr := deviceTrailer()
	plain := tr.encode()
	if plain[0] != 8 {
		t.Fatalf("a delta carrying another device's snapshot is version %d, want 8", plain[0])
	}
	got, err := decodeTrailer(plain)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range got.Snapshots {
		if s.Device != tr.Snapshots[i].Device || s.Hostname != tr.Snapshots[i].Hostname || len(s.Incomplete) != len(tr.Snapshots[i].Incomplete) {
			t.Errorf("record %d read back as device %x, host %q, %d omissions; want %x, %q, %d",
				i, s.Device[:1], s.Hostname, len(s.Incomplete), tr.Snapshots[i].Device[:1], tr.Snapshots[i].Hostname, len(tr.Snapshots[i].Incomplete))
		}
	}
	if got.Device != tr.Device {
		t.Fatalf("the delta's device read back as %x, want %x", got.Device[:1], tr.Device[:1])
	}
	own := deviceTrailer()
	own.Snapshots[0].Device = own.Device
	plainOwn := own.encode()
	// The device costs 16 bytes a record (and, over version 3, one for
	// the empty dictionary table's count), no more.
	if len(plain)-len(plainOwn) != 16*len(tr.Snapshots)+1 {
		t.Errorf("version 8 is %d bytes longer than the same trailer at version 3, want %d", len(plain)-len(plainOwn), 16*len(tr.Snapshots)+1)
	}

	// Every record its own device's: the older version, read with the
	// trailer's device.
	if plainOwn[0] != 3 {
		t.Fatalf("a delta whose snapshots are all its own device's is version %d, want 3", plainOwn[0])
	}
	withRunList := groupTrailer()
	withRunList.Blobs[5].Type = blobRunList
	withRunList.Device, withRunList.Snapshots = own.Device, own.Snapshots
	if v := withRunList.encode()[0]; v != 7 {
		t.Fatalf("a delta with a run list and only its own snapshots is version %d, want 7", v)
	}
	withRunList.Snapshots = tr.Snapshots
	if v := withRunList.encode()[0]; v != 8 {
		t.Fatalf("a delta with a run list carrying another device's snapshot is version %d, want 8", v)
	}
	old := own.encode()
	got, err = decodeTrailer(old)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range got.Snapshots {
		if s.Device != own.Device {
			t.Errorf("record %d of a version 3 trailer reads as device %x, want the trailer's %x", i, s.Device[:1], own.Device[:1])
		}
	}
}

// TestTrailerSnapshotDeviceMalformed: a version 8 trailer cut inside a
// record's device, or claiming more records than its bytes could hold at
// version 8's size, is malformed; so is version 9.
func TestTrailerSnapshotDeviceMalformed(t *testing.T) {
	plain := deviceTrailer().encode()
	// The tail after the last record: uvarint(0) forgotten ‖ device(16)
	// ‖ str("laptop") ‖ padding(4).
	tail := 1 + 16 + 1 + len("laptop") + 4
	cut := append(append([]byte(nil), plain[:len(plain)-tail-8]...), plain[len(plain)-tail:]...)
	if _, err := decodeTrailer(cut); !errors.Is(err, errMalformed) {
		t.Errorf("a record's device cut short: %v, want malformed", err)
	}

	// A record count is bounded by version 8's smallest record: ten
	// claimed in the bytes of ten version 1 records are refused before
	// anything is allocated for them.
	tr := &trailer{ID: [16]byte{3}, Seq: 5, Device: [16]byte{0xb0}}
	tr.Snapshots = []Snapshot{{ID: [16]byte{1}, Time: time.Unix(0, 0), Device: [16]byte{0xa0}}}
	one := tr.encode()
	tr.Snapshots = append(tr.Snapshots, tr.Snapshots[0])
	if recLen := len(tr.encode()) - len(one); recLen != minSnapshotDevice {
		t.Fatalf("the smallest version 8 record is %d bytes, want %d", recLen, minSnapshotDevice)
	}
	at := len(one) - minSnapshotDevice - (1 + 16 + 1 + 4) - 1 // the record count
	if one[at] != 1 {
		t.Fatalf("no record count at %d", at)
	}
	ten := append(append([]byte(nil), one[:at]...), 10)
	ten = append(ten, make([]byte, 10*minSnapshot)...)
	if _, err := decodeTrailer(ten); !errors.Is(err, errMalformed) || !strings.Contains(err.Error(), "count exceeds input") {
		t.Errorf("ten version 8 records claimed in %d bytes: %v, want the count refused", 10*minSnapshot, err)
	}

	plain[0] = trailerVersion + 1
	if _, err := decodeTrailer(plain); err == nil {
		t.Error("a version 9 trailer was read")
	}
}
