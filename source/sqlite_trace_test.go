package source

import (
	"strings"
	"testing"
	"time"
)

// The longest stretch names its phases with how long each took, and they
// add up to the stretch.
func TestTxTraceTimesThePhasesOfTheLongestStretch(t *testing.T) {
	var r txTrace
	r.at("open")
	r.begin(time.Now())
	r.at("plan")
	for start := time.Now(); time.Since(start) < time.Millisecond; {
	}
	r.at("pages")
	r.look(false)
	r.end()
	parts := strings.Split(r.blindIn, ">")
	if len(parts) != 3 || !strings.HasPrefix(parts[0], "open ") || !strings.HasPrefix(parts[1], "plan ") || !strings.HasPrefix(parts[2], "pages ") {
		t.Fatalf("longest stretch in %q, want open, plan and pages with their times", r.blindIn)
	}
	var sum time.Duration
	for _, p := range parts {
		d, err := time.ParseDuration(p[strings.IndexByte(p, ' ')+1:])
		if err != nil {
			t.Fatal(err)
		}
		sum += d
	}
	if plan, _ := time.ParseDuration(strings.TrimPrefix(parts[1], "plan ")); plan < time.Millisecond {
		t.Errorf("plan took %s in %q, want at least the 1 ms it ran", plan, r.blindIn)
	}
	if sum > r.blind+30*time.Microsecond || sum < r.blind-30*time.Microsecond {
		t.Errorf("the phases add up to %s, the stretch is %s", sum, r.blind)
	}
}
