// Package bwlimit reads a bandwidth limit in rclone's --bwlimit syntax
// ("1M", "512k:4M", "08:00,512k 19:00,off", "Mon-08:00,1M Sat-00:00,off")
// and says which limit is in force when. configs checks a config's limits
// with it and remotes paces its transfers by it; it does not import rclone,
// whose fs package would add some 120 packages to everything that reads a
// config. It accepts exactly what rclone's fs.BwTimetable accepts, with the
// same values (a test compares the two); the rules below are rclone's.
package bwlimit

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Examples end every error about a limit.
const Examples = `"1M", "512k:4M", "08:00,512k 19:00,off"`

// Rate is a limit in bytes per second; zero or less is no limit.
type Rate int64

// Off is the rate "off" stands for.
const Off Rate = -1

// Pair is an upload and a download limit.
type Pair struct {
	Up, Down Rate
}

// slot is a limit and when in the week it begins.
type slot struct {
	at   int // weekday*10000 + hh*100 + mm, Sunday = 0
	pair Pair
}

// Timetable is a parsed limit; its zero value is no limit.
type Timetable struct {
	slots []slot
}

// IsZero reports whether t limits nothing ever: the zero Timetable, or
// one parsed from spaces only (rclone accepts " " as an empty timetable).
func (t Timetable) IsZero() bool { return len(t.slots) == 0 }

// Parse reads s in rclone's --bwlimit syntax: a single limit ("1M"), an
// upload and a download limit ("512k:4M"), or a timetable of
// "[weekday-]hh:mm,limit" entries separated by spaces or semicolons.
func Parse(s string) (Timetable, error) {
	if s == "" {
		return Timetable{}, errors.New("empty")
	}
	if !strings.ContainsAny(s, " ,") {
		p, err := parsePair(s)
		if err != nil {
			return Timetable{}, err
		}
		return Timetable{slots: []slot{{0, p}}}, nil
	}
	var t Timetable
	for entry := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ' ' || r == ';' }) {
		when, limit, ok := strings.Cut(entry, ",")
		if !ok || strings.Contains(limit, ",") {
			return Timetable{}, fmt.Errorf("%q is not a timetable entry ([weekday-]hh:mm,limit)", entry)
		}
		day := -1 // every day
		if d, hhmm, ok := strings.Cut(when, "-"); ok {
			if strings.Contains(hhmm, "-") {
				return Timetable{}, fmt.Errorf("%q is not a time ([weekday-]hh:mm)", when)
			}
			var err error
			if day, err = parseWeekday(d); err != nil {
				return Timetable{}, err
			}
			when = hhmm
		}
		hhmm, err := parseHHMM(when)
		if err != nil {
			return Timetable{}, err
		}
		p, err := parsePair(limit)
		if err != nil {
			return Timetable{}, err
		}
		if day >= 0 {
			t.slots = append(t.slots, slot{day*10000 + hhmm, p})
			continue
		}
		for d := range 7 {
			t.slots = append(t.slots, slot{d*10000 + hhmm, p})
		}
	}
	return t, nil
}

// At returns the limits in force at now: those of the latest entry begun
// this week, or before the week's first entry, those of its last (the
// timetable wraps around). Of entries at the same time the last written
// wins. An empty timetable is Off both ways.
func (t Timetable) At(now time.Time) Pair {
	if len(t.slots) == 0 {
		return Pair{Off, Off}
	}
	at := int(now.Weekday())*10000 + now.Hour()*100 + now.Minute()
	var cur, last *slot
	for i := range t.slots {
		s := &t.slots[i]
		if last == nil || s.at >= last.at {
			last = s
		}
		if s.at <= at && (cur == nil || s.at >= cur.at) {
			cur = s
		}
	}
	if cur == nil {
		cur = last
	}
	return cur.pair
}

// parsePair reads "limit" (both ways) or "up:down".
func parsePair(s string) (Pair, error) {
	up, down, two := strings.Cut(s, ":")
	var p Pair
	var err error
	if p.Up, err = parseRate(up); err != nil {
		return Pair{}, err
	}
	if !two {
		p.Down = p.Up
	} else if p.Down, err = parseRate(down); err != nil {
		return Pair{}, err
	}
	return p, nil
}

// parseRate reads a size per second as rclone's fs.SizeSuffix does: "off",
// or a non-negative number with an optional binary unit (k, M, G, T, P, E,
// also written Ki or KiB; B for bytes). A bare number is KiB.
func parseRate(s string) (Rate, error) {
	if s == "" {
		return 0, errors.New("a limit is empty")
	}
	if strings.ToLower(s) == "off" {
		return Off, nil
	}
	num, mult := s, 1024.0
	bad := fmt.Errorf("%q: unknown unit (use k, M, G, T, P or E, e.g. 512k)", s)
	switch c := s[len(s)-1]; {
	case c >= '0' && c <= '9' || c == '.':
	case c == 'b' || c == 'B':
		if len(s) > 2 && s[len(s)-2] == 'i' { // KiB
			var ok bool
			if mult, ok = unit(s[len(s)-3]); !ok {
				return 0, bad
			}
			num = s[:len(s)-3]
		} else {
			num, mult = s[:len(s)-1], 1
		}
	case c == 'i' || c == 'I': // Ki
		var ok bool
		if len(s) < 2 {
			return 0, bad
		}
		if mult, ok = unit(s[len(s)-2]); !ok {
			return 0, bad
		}
		num = s[:len(s)-2]
	default:
		var ok bool
		if mult, ok = unit(c); !ok {
			return 0, bad
		}
		num = s[:len(s)-1]
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(v) {
		return 0, fmt.Errorf("%q is not a number followed by a unit", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	v *= mult
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return Rate(v), nil
}

// unit is the multiplier of a unit letter.
func unit(c byte) (float64, bool) {
	switch c {
	case 'k', 'K':
		return 1 << 10, true
	case 'm', 'M':
		return 1 << 20, true
	case 'g', 'G':
		return 1 << 30, true
	case 't', 'T':
		return 1 << 40, true
	case 'p', 'P':
		return 1 << 50, true
	case 'e', 'E':
		return 1 << 60, true
	}
	return 0, false
}

var weekdays = map[string]int{
	"sun": 0, "sunday": 0, "mon": 1, "monday": 1, "tue": 2, "tuesday": 2,
	"wed": 3, "wednesday": 3, "thu": 4, "thursday": 4, "fri": 5, "friday": 5,
	"sat": 6, "saturday": 6,
}

func parseWeekday(s string) (int, error) {
	if d, ok := weekdays[strings.ToLower(s)]; ok {
		return d, nil
	}
	return 0, fmt.Errorf("%q is not a weekday (Mon, Tuesday, ...)", s)
}

// parseHHMM reads exactly "hh:mm", 00:00 to 23:59, as hh*100+mm.
func parseHHMM(s string) (int, error) {
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("%q is not a time (hh:mm)", s)
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not a time (hh:mm)", s)
		}
	}
	hh, mm := int(s[0]-'0')*10+int(s[1]-'0'), int(s[3]-'0')*10+int(s[4]-'0')
	if hh > 23 || mm > 59 {
		return 0, fmt.Errorf("%q is not a time of day (00:00 to 23:59)", s)
	}
	return hh*100 + mm, nil
}
