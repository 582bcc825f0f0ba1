package main

import (
	"os"
	"path/filepath"
	"testing"
)

// The breakdown reads the repository of the bench's last round.
func TestLastRound(t *testing.T) {
	work := t.TempDir()
	if got, want := lastRound(work, "chatsafe"), filepath.Join(work, "chatsafe"); got != want {
		t.Fatalf("one round: %s, want %s", got, want)
	}
	for _, d := range []string{"chatsafe-r2", "chatsafe-r10", "chatsafe-r9", "chatsafe-rx", "restic-r11"} {
		if err := os.Mkdir(filepath.Join(work, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := lastRound(work, "chatsafe"), filepath.Join(work, "chatsafe-r10"); got != want {
		t.Fatalf("ten rounds: %s, want %s", got, want)
	}
}
