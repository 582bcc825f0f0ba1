package prune_test

import (
	"testing"
	"time"
)

func mustTime(t *testing.T, s string) time.Time {
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func timeHours(h int) time.Duration { return time.Duration(h) * time.Hour }
