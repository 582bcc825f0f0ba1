package bwlimit

import (
	"testing"
	"time"

	rclonefs "github.com/rclone/rclone/fs"
)

// Limits rclone accepts and refuses; ours must agree on each, and on the
// limits in force through a week.
var cases = []struct {
	in string
	ok bool
}{
	{"1M", true}, {"512k", true}, {"off", true}, {"OFF", true}, {"0", true},
	{"1", true}, {"2.5", true}, {"0.1k", true}, {"1.g", true}, {"1b", true},
	{"102B", true}, {"1Ki", true}, {"1KI", true}, {"1kI", true}, {"1KiB", true},
	{"1kib", true}, {"1MiB", true}, {"7E", true}, {"10M:100k", true},
	{"512k:4M", true}, {"off:1M", true}, {"1e3", true}, {"+5k", true}, {"-0", true},
	{"08:00,512k 12:00,10M 23:00,off", true}, {"08:00,512k 19:00,off", true},
	{"Mon-08:00,1M Sat-00:00,off", true}, {"mon-08:00,1M sunday-23:59,2M:off", true},
	{"11:00,333;13:40,666;23:50,10M;23:59,off", true}, {"10:20,666:333", true},
	{"Mon-00:00,512 12:00,1M Sun-20:00,off", true}, {"08:00,1M 08:00,2M", true},
	{"  08:00,1M  ", true}, {" ", true},
	{"1_000", true}, // strconv.ParseFloat takes Go's digit separators
	{"08:00", true}, // no comma, so not a time: 8 KiB/s up, 0 (no limit) down

	{"", false}, {"fast", false}, {"1q", false}, {"1.q", false}, {"-1K", false},
	{"1i", false}, {"i", false}, {"1iB", false}, {"iB", false}, {"B", false},
	{"1MB", false}, {"1KIB", false}, {"nank", false}, {"NaNM", false}, {"inf", false},
	{"8E", false}, {"8Ei", false}, {"8EiB", false}, {"10E", false}, {"1e400", false},
	{"1M:", false}, {":1M", false}, {"1M:2M:3M", false},
	{"1M;2M", false}, {"1M ", false}, {"bad,bad", false}, {"bad bad", false},
	{"2401,666", false}, {"1061,666", false}, {"24:00,1M", false}, {"08:60,1M", false},
	{"8:00,1M", false}, {"+1:00,666", false}, {"10h20,666", false},
	{"bad-10:20,666", false}, {"Mon-bad,666", false}, {"Mon-10:20,bad", false},
	{"Mon-10.20,666", false}, {"Mon-10:+5,666", false}, {"Mon-10:00-1,1M", false},
	{"-10:00,1M", false}, {"08:00,1M,2M", false},
	{"08:00,1M bad", false}, {";", false}, {"Mon-11:00,333 24:01,666", false}, {"08:00,", false},
}

func TestAgreesWithRclone(t *testing.T) {
	for _, c := range cases {
		_, err := Parse(c.in)
		if (err == nil) != c.ok {
			t.Errorf("Parse(%q): %v, want ok=%v", c.in, err, c.ok)
		}
		agree(t, c.in)
	}
}

// FuzzAgreesWithRclone runs the table as its seeds with plain go test.
func FuzzAgreesWithRclone(f *testing.F) {
	for _, c := range cases {
		f.Add(c.in)
	}
	f.Fuzz(agree)
}

// agree checks that Parse and rclone's BwTimetable.Set accept or refuse s
// alike and, where both accept it, give the same limits through a week.
func agree(t *testing.T, s string) {
	var want rclonefs.BwTimetable
	wantErr := want.Set(s)
	got, err := Parse(s)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("%q: ours %v, rclone's %v", s, err, wantErr)
	}
	if err != nil {
		return
	}
	if got.IsZero() != (len(want) == 0) {
		t.Fatalf("%q: ours empty=%v, rclone's has %d slots", s, got.IsZero(), len(want))
	}
	// Every minute of a week, from a Sunday 00:00: the edges of every
	// entry and the wrap-around from Saturday to Sunday.
	sunday := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	for at := sunday; at.Before(sunday.AddDate(0, 0, 7)); at = at.Add(time.Minute) {
		w := want.LimitAt(at).Bandwidth
		if g := got.At(at); g.Up != Rate(w.Tx) || g.Down != Rate(w.Rx) {
			t.Fatalf("%q at %s: ours %+v, rclone's %v", s, at.Format("Mon 15:04"), g, w)
		}
	}
}
