package crypt

import (
	"fmt"
	"iter"
)

// KeyEdit is one slip in typing a recovery key: a digit replaced by
// another, or two adjacent digits swapped. It names places, never digits.
type KeyEdit struct {
	// Pos is the digit's position, 0 to 63, in the order RecoveryKey
	// prints them.
	Pos int
	// Swap: the digits at Pos and Pos+1 are exchanged; else the digit at
	// Pos is another.
	Swap bool
}

// String says where the slip is, 1-based as a person counts the groups
// of the recovery key: "group 5, digit 2", "digits 2 and 3 of group 5
// swapped", or for a swap across two groups "digit 4 of group 5 and
// digit 1 of group 6 swapped".
func (e KeyEdit) String() string {
	g, d := e.Pos/recoveryGroup+1, e.Pos%recoveryGroup+1
	switch {
	case !e.Swap:
		return fmt.Sprintf("group %d, digit %d", g, d)
	case d < recoveryGroup:
		return fmt.Sprintf("digits %d and %d of group %d swapped", d, d+1, g)
	default:
		return fmt.Sprintf("digit %d of group %d and digit 1 of group %d swapped", d, g, g+1)
	}
}

// OneEditAway yields every key one slip from k: each of the 64 digits
// replaced by each of the 15 others (960 keys), then each two adjacent
// digits that differ swapped (at most 63): 1023 keys at most, never k.
func (k Key) OneEditAway() iter.Seq2[KeyEdit, Key] {
	return func(yield func(KeyEdit, Key) bool) {
		for pos := range recoveryDigits {
			was := k.digit(pos)
			for v := range byte(16) {
				if v == was {
					continue
				}
				c := k
				c.setDigit(pos, v)
				if !yield(KeyEdit{Pos: pos}, c) {
					return
				}
			}
		}
		for pos := range recoveryDigits - 1 {
			a, b := k.digit(pos), k.digit(pos+1)
			if a == b {
				continue
			}
			c := k
			c.setDigit(pos, b)
			c.setDigit(pos+1, a)
			if !yield(KeyEdit{Pos: pos, Swap: true}, c) {
				return
			}
		}
	}
}

// digit is the hex digit at pos (0-63) of the recovery key: the high
// half of a byte first, as RecoveryKey prints and ParseRecoveryKey reads.
func (k *Key) digit(pos int) byte { return k[pos/2] >> nibbleShift(pos) & 0x0f }

func (k *Key) setDigit(pos int, v byte) {
	s := nibbleShift(pos)
	k[pos/2] = k[pos/2]&^(0x0f<<s) | v<<s
}

func nibbleShift(pos int) int { return 4 * (1 - pos%2) }
