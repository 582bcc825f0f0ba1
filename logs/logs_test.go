package logs

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/chatsafe/chatsafe/crypt"
)

func TestJSONWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Options{Level: "info", Format: "text", Out: &buf})
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hello", zap.Int("n", 3))
	l.Debug("hidden")
	l.Sync()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want 1 line (debug filtered), got %q", buf.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatalf("not JSON off a terminal: %q: %v", lines[0], err)
	}
	if m["msg"] != "hello" || m["n"] != float64(3) || m["level"] != "info" || m["time"] == nil {
		t.Fatalf("unexpected fields: %v", m)
	}
}

func TestLevelChangesLive(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Options{Level: "warn", Out: &buf})
	if err != nil {
		t.Fatal(err)
	}
	l.Info("one")
	l.Level.SetLevel(zapcore.DebugLevel)
	l.Debug("two")
	if s := buf.String(); strings.Contains(s, "one") || !strings.Contains(s, "two") {
		t.Fatalf("level change not applied: %q", s)
	}
}

func TestSecretsRedacted(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Options{Format: "json", Out: &buf})
	if err != nil {
		t.Fatal(err)
	}
	k, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	rk := k.RecoveryKey()
	l.With(zap.String("password", "hunter2")).Info("login",
		zap.String("recovery_key", rk), zap.String("vault_token", "tok-123"),
		zap.Any("backup", k), zap.String("remote", "gdrive:chats"))
	out := buf.String()
	for _, s := range []string{"hunter2", rk, "tok-123", strings.ReplaceAll(rk, "-", "")} {
		if strings.Contains(strings.ToUpper(out), strings.ToUpper(s)) {
			t.Fatalf("secret %q reached the log: %s", s, out)
		}
	}
	if !strings.Contains(out, "gdrive:chats") || strings.Count(out, Redacted) < 3 {
		t.Fatalf("expected ordinary fields kept and three redactions: %s", out)
	}
}

func TestBadOptions(t *testing.T) {
	if _, err := New(Options{Level: "loud"}); err == nil || !strings.Contains(err.Error(), "debug, info, warn, error") {
		t.Fatalf("bad level: %v", err)
	}
	if _, err := New(Options{Format: "xml", Out: os.Stderr}); err == nil {
		t.Fatal("bad format accepted")
	}
}
