package daemon_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/internal/cmdline"
)

// TestOtherSourceRefusalCommandRuns: the refusal of another --source
// tells how to back that folder up separately, as a command to copy; a
// folder whose path has a space in it (macOS's "Application Support", a
// Windows profile) is quoted there, or the copied command would name
// another folder.
func TestOtherSourceRefusalCommandRuns(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "chats")
	other := filepath.Join(dir, "Application Support", "other chats")
	for _, d := range []string{src, other} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfgPath := filepath.Join(dir, "inst", "config.yaml")
	if _, _, err := daemon.LoadOrCreate(t.Context(), cfgPath, src, nil); err != nil {
		t.Fatal(err)
	}
	_, _, err := daemon.LoadOrCreate(t.Context(), cfgPath, other, nil)
	if !errors.Is(err, daemon.ErrOtherSource) || !errors.Is(err, configs.ErrConfig) {
		t.Fatalf("another source: %v", err)
	}
	want := "--source " + cmdline.Quote(other) + "`"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("the command to back %q up separately lacks %s:\n%v", other, want, err)
	}
}
