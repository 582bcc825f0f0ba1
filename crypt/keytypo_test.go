package crypt_test

import (
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
)

// TestOneEditAway: every key one slip away, each once, each described by
// where its recovery key differs from the original's.
func TestOneEditAway(t *testing.T) {
	k, err := crypt.ParseRecoveryKey("0A1B-2C3D-4E5F-6071-8293-A4B5-C6D7-E8F9-0011-2233-4455-6677-8899-AABB-CCDD-EEFF")
	if err != nil {
		t.Fatal(err)
	}
	digits := strings.ReplaceAll(k.RecoveryKey(), "-", "")
	seen := map[crypt.Key]bool{}
	replacedN, swappedN := 0, 0
	for e, c := range k.OneEditAway() {
		if c == k || seen[c] {
			t.Fatalf("%v: the key itself or a key yielded twice", e)
		}
		seen[c] = true
		got := strings.ReplaceAll(c.RecoveryKey(), "-", "")
		var diff []int
		for i := range digits {
			if got[i] != digits[i] {
				diff = append(diff, i)
			}
		}
		switch {
		case !e.Swap && len(diff) == 1 && diff[0] == e.Pos:
			replacedN++
		case e.Swap && len(diff) == 2 && diff[0] == e.Pos && diff[1] == e.Pos+1 &&
			got[e.Pos] == digits[e.Pos+1] && got[e.Pos+1] == digits[e.Pos]:
			swappedN++
		default:
			t.Fatalf("%+v: the recovery key differs at %v", e, diff)
		}
	}
	// 16 pairs of equal neighbours (two in each of groups 9 to 16) are not swapped.
	if replacedN != 64*15 || swappedN != 63-16 {
		t.Fatalf("%d replaced and %d swapped, want %d and %d", replacedN, swappedN, 64*15, 63-16)
	}
}

func TestKeyEditString(t *testing.T) {
	for _, c := range []struct {
		e    crypt.KeyEdit
		want string
	}{
		{crypt.KeyEdit{Pos: 17}, "group 5, digit 2"},
		{crypt.KeyEdit{Pos: 0}, "group 1, digit 1"},
		{crypt.KeyEdit{Pos: 63}, "group 16, digit 4"},
		{crypt.KeyEdit{Pos: 17, Swap: true}, "digits 2 and 3 of group 5 swapped"},
		{crypt.KeyEdit{Pos: 19, Swap: true}, "digit 4 of group 5 and digit 1 of group 6 swapped"},
	} {
		if got := c.e.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.e, got, c.want)
		}
	}
}
