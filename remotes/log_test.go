package remotes

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rclone/rclone/fs"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestOpenWiresRcloneLog: a remote opened with a logger gets rclone's own
// warnings there. The local backend warns (NOTICE, rclone's default level)
// that it cannot follow a symlink while listing.
func TestOpenWiresRcloneLog(t *testing.T) {
	defer SetRcloneLogger(nil)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent/target", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	r := mustOpen(t, dir, Options{Log: zap.New(core)})
	if got := names(t, r, ""); len(got) != 1 || got[0] != "config" {
		t.Fatalf("listed %q", got)
	}
	var warned bool
	for _, e := range logs.All() {
		if e.LoggerName == "rclone" && e.Level == zapcore.WarnLevel && strings.Contains(e.Message, "symlink") {
			warned = true
		}
		if e.Level < zapcore.WarnLevel {
			t.Errorf("rclone chatter below warn reached the log: %+v", e)
		}
	}
	if !warned {
		t.Fatalf("rclone's symlink warning did not reach the logger: %+v", logs.All())
	}
}

// TestListingAMissingDirectoryLogsNothing: listing what does not exist yet
// (every new repository's deltas/) is an ordinary answer the caller gets as
// ErrNotFound or an empty list, not an error for the log; rclone's walker
// also logs it as an error, which would greet every new user.
func TestListingAMissingDirectoryLogsNothing(t *testing.T) {
	defer SetRcloneLogger(nil)
	core, logs := observer.New(zapcore.DebugLevel)
	r := mustOpen(t, t.TempDir(), Options{Log: zap.New(core)})
	if got := names(t, r, "deltas"); len(got) != 0 {
		t.Fatalf("listed %q in a missing directory", got)
	}
	for _, e := range logs.All() {
		t.Errorf("logged while listing a missing directory: %s %q %v", e.Level, e.Message, e.ContextMap())
	}
}

// rclone's errors are filtered by where they come from, not by wording: an
// error logged outside our own listing reaches the log even when it reads
// like the walker's ("error listing: ...").
func TestRcloneErrorOutsideListingIsLogged(t *testing.T) {
	defer SetRcloneLogger(nil)
	core, logs := observer.New(zapcore.DebugLevel)
	SetRcloneLogger(zap.New(core))
	slog.New(&rcloneLogHandler{}).Log(t.Context(), slog.LevelError, "error listing: directory not found")
	if got := logs.FilterMessage("error listing: directory not found").Len(); got != 1 {
		t.Fatalf("an rclone error outside a listing was logged %d times, want once: %+v", got, logs.All())
	}
}

// An error rclone logs under our listing's context is the one list
// returns: it is not logged too, whatever it says; its warnings are.
func TestRcloneErrorInListingIsNotRepeated(t *testing.T) {
	defer SetRcloneLogger(nil)
	core, logs := observer.New(zapcore.DebugLevel)
	SetRcloneLogger(zap.New(core))
	l := slog.New(&rcloneLogHandler{})
	ctx := listingContext(t.Context())
	l.Log(ctx, slog.LevelError, "some other wording: permission denied")
	l.Log(ctx, fs.SlogLevelNotice, "Can't follow symlink")
	if logs.Len() != 1 || logs.All()[0].Message != "Can't follow symlink" {
		t.Fatalf("want only the notice logged from a listing, got %+v", logs.All())
	}
}

// TestMissingRcloneConfLogsNothing: a remote named without an rclone.conf
// (here defined in the environment, as rclone allows) opens with nothing
// logged: rclone's "Config file ... not found - using defaults" notice
// is no warning of ours, and an unknown name is an error that names the
// file anyway.
func TestMissingRcloneConfLogsNothing(t *testing.T) {
	defer SetRcloneLogger(nil)
	t.Setenv("RCLONE_CONFIG_ENVLOCAL_TYPE", "local")
	core, logs := observer.New(zapcore.DebugLevel)
	missing := filepath.Join(t.TempDir(), "rclone.conf")
	r := mustOpen(t, "envlocal:"+t.TempDir(), Options{RcloneConfig: missing, Log: zap.New(core)})
	if got := names(t, r, ""); len(got) != 0 {
		t.Fatalf("listed %q in a new directory", got)
	}
	for _, e := range logs.All() {
		t.Errorf("logged opening a remote without an rclone.conf: %s %q", e.Level, e.Message)
	}
}
