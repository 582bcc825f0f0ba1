package configs

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
)

// Duration is a time.Duration written in YAML as "2s", "500ms", "1h30m".
type Duration time.Duration

// UnmarshalText parses Go duration syntax; a bare 0 is allowed.
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "0" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q (use e.g. 2s, 500ms, 1m)", string(b))
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the shortest Go duration syntax ("2s", "1h0m0s" → "1h").
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String formats like time.Duration but drops zero minute/second parts.
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Size is a byte count written as "500MiB", "2GB", "1048576" (0 = unlimited).
type Size int64

// UnmarshalText parses a size with an optional SI or IEC unit.
func (z *Size) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	v, err := humanize.ParseBytes(s)
	if err != nil || v > 1<<62 {
		return fmt.Errorf("invalid size %q (use e.g. 500MiB, 2GiB, 0 for unlimited)", string(b))
	}
	*z = Size(v)
	return nil
}

// MarshalText writes the largest binary unit that represents z exactly.
func (z Size) MarshalText() ([]byte, error) { return []byte(z.String()), nil }

func (z Size) String() string {
	units := []struct {
		name string
		n    int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}
	for _, u := range units {
		if z != 0 && int64(z)%u.n == 0 {
			return strconv.FormatInt(int64(z)/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(z), 10)
}
