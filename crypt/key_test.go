package crypt

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
)

// testKey is a fixed key whose hex is easy to search for in output.
func testKey(t testing.TB) Key {
	t.Helper()
	var k Key
	for i := range k {
		k[i] = byte(0xA0 + i)
	}
	return k
}

func TestNewKeyIsRandom(t *testing.T) {
	a, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two NewKey calls returned the same key")
	}
	if a == (Key{}) {
		t.Fatal("NewKey returned the zero key")
	}
}

func TestRecoveryKeyFormat(t *testing.T) {
	k := testKey(t)
	got := k.RecoveryKey()
	want := "A0A1-A2A3-A4A5-A6A7-A8A9-AAAB-ACAD-AEAF-B0B1-B2B3-B4B5-B6B7-B8B9-BABB-BCBD-BEBF"
	if got != want {
		t.Fatalf("RecoveryKey() = %q, want %q", got, want)
	}
	if !regexp.MustCompile(`^[0-9A-F]{4}(-[0-9A-F]{4}){15}$`).MatchString(got) {
		t.Fatalf("RecoveryKey() = %q is not 16 groups of 4 uppercase hex digits", got)
	}
}

func TestRecoveryKeyRoundTrip(t *testing.T) {
	for i := range 50 {
		k, err := NewKey()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			k = Key{} // the all-zero key must round-trip too
		}
		got, err := ParseRecoveryKey(k.RecoveryKey())
		if err != nil {
			t.Fatalf("ParseRecoveryKey(RecoveryKey()) failed: %v", err)
		}
		if got != k {
			t.Fatal("recovery key did not round-trip")
		}
	}
}

func TestParseRecoveryKeyLenient(t *testing.T) {
	k := testKey(t)
	canon := k.RecoveryKey()
	plain := strings.ReplaceAll(canon, "-", "")
	tests := []struct {
		name, in string
	}{
		{"canonical", canon},
		{"lower case", strings.ToLower(canon)},
		{"mixed case", strings.ToLower(canon[:20]) + canon[20:]},
		{"no separators", plain},
		{"spaces", strings.ReplaceAll(canon, "-", " ")},
		{"tabs", strings.ReplaceAll(canon, "-", "\t")},
		{"newlines", strings.ReplaceAll(canon, "-", "\n")},
		{"CRLF pasted from a file", strings.ReplaceAll(canon, "-", "\r\n") + "\r\n"},
		{"leading and trailing space", "  " + canon + " \n"},
		{"double dashes", strings.ReplaceAll(canon, "-", "--")},
		{"groups of 8", plain[:8] + " " + plain[8:16] + " " + plain[16:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRecoveryKey(tt.in)
			if err != nil {
				t.Fatalf("ParseRecoveryKey: %v", err)
			}
			if got != k {
				t.Fatal("parsed key differs from the original")
			}
		})
	}
}

func TestParseRecoveryKeyErrors(t *testing.T) {
	k := testKey(t)
	plain := strings.ReplaceAll(k.RecoveryKey(), "-", "")
	tests := []struct {
		name     string
		in       string
		wantText string // substring of the error message
	}{
		{"empty", "", "it is empty"},
		{"only separators", " - \n\t", "it is empty"},
		{"63 digits", plain[:63], "it has 63 hex digits, want 64"},
		{"65 digits", plain + "0", "it has 65 hex digits, want 64"},
		{"128 digits", plain + plain, "it has 128 hex digits, want 64"},
		{"non-hex letter", "0A1Bg" + plain[5:], "character 'g' at position 5 is not a hex digit (0-9, A-F)"},
		{"letter O for zero", "O" + plain[1:], "character 'O' at position 1 is not a hex digit"},
		{"position counts separators", "9F8E-7D6Z", "character 'Z' at position 9"},
		{"non-ASCII", plain[:10] + "é" + plain[11:], "character 'é' at position 11"},
		{"NUL byte", plain[:3] + "\x00" + plain[4:], `character '\x00' at position 4`},
		{"invalid UTF-8", plain[:3] + "\xff" + plain[4:], "at position 4 is not a hex digit"},
		{"underscore separator", strings.ReplaceAll(k.RecoveryKey(), "-", "_"), "character '_' at position 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRecoveryKey(tt.in)
			if err == nil {
				t.Fatal("ParseRecoveryKey succeeded, want an error")
			}
			if got != (Key{}) {
				t.Error("a failed parse returned a non-zero key")
			}
			if !errors.Is(err, ErrMalformedRecoveryKey) {
				t.Errorf("error %q does not wrap ErrMalformedRecoveryKey", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantText) {
				t.Errorf("error %q does not contain %q", msg, tt.wantText)
			}
			if !strings.Contains(msg, "16 groups of 4 like 0A1B-2C3D-...") {
				t.Errorf("error %q does not say what format is expected", msg)
			}
			if len(tt.in) >= 8 && strings.Contains(strings.ToUpper(msg), strings.ToUpper(tt.in[:8])) {
				t.Errorf("error %q echoes the input", msg)
			}
			if strings.Contains(strings.ToUpper(msg), plain[8:16]) {
				t.Errorf("error %q echoes key digits", msg)
			}
		})
	}
}

func TestKeyNeverPrinted(t *testing.T) {
	k := testKey(t)
	hexLower := hex.EncodeToString(k[:])
	// Bytes 0xA0.. print as "160 161 ..." with %v on a plain array.
	decimal := fmt.Sprint([KeySize]byte(k))
	pk := &k
	type wrapper struct {
		Name string
		K    Key
	}
	w := wrapper{"x", k}
	outputs := map[string]string{
		"%v":          fmt.Sprintf("%v", k),
		"%s":          fmt.Sprintf("%s", k),
		"%#v":         fmt.Sprintf("%#v", k),
		"%x":          fmt.Sprintf("%x", k),
		"%X":          fmt.Sprintf("%X", k),
		"%d":          fmt.Sprintf("%d", k),
		"%q":          fmt.Sprintf("%q", k),
		"%v pointer":  fmt.Sprintf("%v", pk),
		"%+v struct":  fmt.Sprintf("%+v", w),
		"%#v struct":  fmt.Sprintf("%#v", w),
		"%v slice":    fmt.Sprintf("%v", []Key{k}),
		"Sprint":      fmt.Sprint(k),
		"String":      k.String(),
		"GoString":    k.GoString(),
		"slog.Any":    slogText(slog.Any("key", k)),
		"slog struct": slogText(slog.Any("w", w)),
	}
	for name, out := range outputs {
		low := strings.ToLower(out)
		if strings.Contains(low, hexLower[:16]) || strings.Contains(out, decimal[1:20]) {
			t.Errorf("%s printed the key: %q", name, out)
		}
	}
	for _, name := range []string{"%v", "%s", "%#v", "%x", "String", "GoString"} {
		if outputs[name] != "crypt.Key(REDACTED)" {
			t.Errorf("%s = %q, want crypt.Key(REDACTED)", name, outputs[name])
		}
	}
}

func slogText(a slog.Attr) string {
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("msg", a)
	return b.String()
}

func TestKeyRefusesMarshal(t *testing.T) {
	k := testKey(t)
	hexLower := hex.EncodeToString(k[:])
	tests := map[string]any{
		"value":   k,
		"pointer": &k,
		"field":   struct{ K Key }{k},
		"map key": map[Key]int{k: 1},
		"slice":   []Key{k},
	}
	for name, v := range tests {
		t.Run(name, func(t *testing.T) {
			out, err := json.Marshal(v)
			if err == nil {
				t.Fatalf("json.Marshal succeeded: %s", out)
			}
			if strings.Contains(strings.ToLower(err.Error()), hexLower[:16]) {
				t.Fatalf("error leaks the key: %v", err)
			}
		})
	}
	if _, err := k.MarshalText(); err == nil {
		t.Fatal("MarshalText succeeded")
	}
}
