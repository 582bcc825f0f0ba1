package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A recovery key has no checksum: a slip in typing it reads like another
// key. One slip from the repository's key (a digit replaced, two adjacent
// digits swapped) is named by group and digit, and no digit of either key
// is shown.

// keyDigits is the 64 hex digits of the recovery key file.
func keyDigits(t *testing.T, keyFile string) string {
	t.Helper()
	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	d := strings.NewReplacer("-", "", "\n", "", " ", "").Replace(string(b))
	if len(d) != 64 {
		t.Fatalf("%s holds %d hex digits", keyFile, len(d))
	}
	return d
}

// otherDigit is a hex digit other than c.
func otherDigit(c byte) byte {
	if c == '0' {
		return '1'
	}
	return '0'
}

// replaced is digits with the digits at pos (0-based) changed.
func replaced(digits string, pos ...int) string {
	b := []byte(digits)
	for _, p := range pos {
		b[p] = otherDigit(b[p])
	}
	return string(b)
}

// swappable is the first position from `from` on, inside a group, whose
// digit differs from the next one.
func swappable(t *testing.T, digits string, from int) int {
	t.Helper()
	for p := from; p < 63; p++ {
		if p%4 != 3 && digits[p] != digits[p+1] {
			return p
		}
	}
	t.Fatal("no two adjacent digits differ")
	return 0
}

func swapped(digits string, pos int) string {
	b := []byte(digits)
	b[pos], b[pos+1] = b[pos+1], b[pos]
	return string(b)
}

// writeKeyFile writes digits as a recovery key file, in groups of 4.
func writeKeyFile(t *testing.T, dir, name, digits string) string {
	t.Helper()
	var groups []string
	for i := 0; i < len(digits); i += 4 {
		groups = append(groups, digits[i:i+4])
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(strings.Join(groups, "-")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// noKeyDigits fails if any 8 consecutive digits of a key appear in what
// the command printed (dashes ignored).
func noKeyDigits(t *testing.T, r result, keys ...string) {
	t.Helper()
	out := strings.ReplaceAll(r.stdout+r.stderr, "-", "")
	for _, k := range keys {
		for i := 0; i+8 <= len(k); i++ {
			if strings.Contains(strings.ToUpper(out), k[i:i+8]) {
				t.Fatalf("the output shows digits %d-%d of a key:\nstdout: %s\nstderr: %s", i+1, i+8, r.stdout, r.stderr)
			}
		}
	}
}

// TestRecoveryKeyTypoNamed: restore with a recovery key file one slip
// from the right key says where the slip is (exit 3); two slips are a
// wrong key as before.
func TestRecoveryKeyTypoNamed(t *testing.T) {
	s := newSetup(t)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	right := keyDigits(t, s.keyFile)
	dir := t.TempDir()
	dst := filepath.Join(dir, "out")
	restore := func(digits string) result {
		t.Helper()
		r := run(t, dir, "restore", "--remote", s.remote, "--recovery-key-file", writeKeyFile(t, dir, "key.txt", digits), "--to", dst)
		noKeyDigits(t, r, right, digits)
		if _, err := os.Stat(dst); !os.IsNotExist(err) {
			t.Fatalf("a wrong key created the target: %v", err)
		}
		return r
	}

	// Group 5, digit 2: the 18th digit.
	typo := replaced(right, 17)
	r := restore(typo)
	r.want(t, 3, "wrong recovery key: it does not open this repository, but a key differing from it in group 5, digit 2 does")
	r.want(t, 3, "compare that digit with the key you kept")

	p := swappable(t, right, 20)
	r = restore(swapped(right, p))
	r.want(t, 3, fmt.Sprintf("digits %d and %d of group %d swapped", p%4+1, p%4+2, p/4+1))

	r = restore(replaced(right, 3, 40))
	r.want(t, 3, "wrong recovery key: it does not open this repository")
	if strings.Contains(r.stderr, "group") || strings.Contains(r.stderr, "differing") {
		t.Fatalf("two slips named as one:\n%s", r.stderr)
	}
}

// TestJoinRecoveryKeyTypoNamed: init --join with a key one slip away
// names the slip and writes nothing.
func TestJoinRecoveryKeyTypoNamed(t *testing.T) {
	s := newSetup(t)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	right := keyDigits(t, s.keyFile)
	b := newDevice(t, map[string]string{"chat.db": "new device"})
	typo := writeKeyFile(t, b.home, "typo.txt", replaced(right, 63))
	r := run(t, b.home, "init", "--join", "--source", b.src, "--remote", s.remote, "--config", b.cfg, "--state-dir", b.state, "--recovery-key-file", typo)
	r.want(t, 3, "in group 16, digit 4 does")
	noKeyDigits(t, r, right, replaced(right, 63))
	noFileAt(t, b.cfg, b.state)
}
