package store

import (
	"reflect"
	"strings"
	"testing"
)

// TestTrailerIncompleteRoundTrip: a snapshot's incomplete paths survive
// encoding (version 3), capped in number and length; a version 2 trailer
// still reads, with none.
func TestTrailerIncompleteRoundTrip(t *testing.T) {
	long := strings.Repeat("x", maxOmissionText+10)
	snap := Snapshot{ID: [16]byte{1}, Seq: 1, Hostname: "h", Source: "/s",
		Incomplete: []Omission{{Path: "msgstore.db", Reason: "open: permission denied"}, {Path: long, Reason: long}}}
	tr := &trailer{ID: [16]byte{2}, Seq: 1, Snapshots: []Snapshot{snap}}
	p := tr.encode()
	if p[0] != 3 {
		t.Fatalf("trailer version %d, want 3", p[0])
	}
	got, err := decodeTrailer(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []Omission{snap.Incomplete[0], {Path: long[:maxOmissionText], Reason: long[:maxOmissionText]}}
	if !reflect.DeepEqual(got.Snapshots[0].Incomplete, want) {
		t.Fatalf("incomplete paths read back as %+v", got.Snapshots[0].Incomplete)
	}

	many := make([]Omission, maxOmissions+5)
	for i := range many {
		many[i] = Omission{Path: "p", Reason: "r"}
	}
	tr.Snapshots[0].Incomplete = many
	if got, err = decodeTrailer(tr.encode()); err != nil || len(got.Snapshots[0].Incomplete) != maxOmissions {
		t.Fatalf("%d omissions written: %d read back, %v", len(many), len(got.Snapshots[0].Incomplete), err)
	}

	// Version 2: the same trailer without the field (nor version 3's
	// device id and hostname) reads as complete. Its v3 tail is
	// uvarint(0) incomplete ‖ uvarint(0) forgotten ‖ device(16) ‖ str("")
	// ‖ padding(4); the v2 tail is uvarint(0) forgotten ‖ padding(4).
	tr.Snapshots[0].Incomplete = nil
	v3 := tr.encode()
	n := len(v3)
	v2 := append([]byte{2}, v3[1:n-23]...)
	v2 = append(v2, 0)
	v2 = append(v2, v3[n-4:]...)
	if got, err = decodeTrailer(v2); err != nil || got.Snapshots[0].Incomplete != nil || got.Snapshots[0].Source != "/s" {
		t.Fatalf("version 2 trailer: %+v, %v", got, err)
	}
}
