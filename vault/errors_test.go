package vault

import (
	"strings"
	"testing"
	"time"
)

// The wait a person reads is never shorter than the vault's: a wait that
// shrank in transit to 59m59.4s still reads as the hour the vault set.
func TestRetryAfterErrorRoundsUp(t *testing.T) {
	for wait, want := range map[time.Duration]string{
		time.Hour - 600*time.Millisecond: "1h0m0s",
		time.Hour - 59*time.Second:       "1h0m0s",
		time.Hour:                        "1h0m0s",
		61 * time.Second:                 "2m0s",
		1500 * time.Millisecond:          "2s",
		30 * time.Second:                 "30s",
	} {
		got := RetryAfterError{Wait: wait}.Error()
		if want := "next attempt in " + want + ";"; !strings.Contains(got, want) {
			t.Errorf("wait %v: %q lacks %q", wait, got, want)
		}
	}
}
