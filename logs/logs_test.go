package logs

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/chatsafe/chatsafe/crypt"
)

func TestJSONLines(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Options{Level: "info", Format: "json", Out: &buf})
	if err != nil {
		t.Fatal(err)
	}
	l.Named("vault").Info("hello", zap.Int("n", 3))
	l.Debug("hidden")
	l.Sync()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want 1 line (debug filtered), got %q", buf.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatalf("not JSON: %q: %v", lines[0], err)
	}
	if m["msg"] != "hello" || m["n"] != float64(3) || m["level"] != "info" || m["time"] == nil || m["logger"] != "vault" {
		t.Fatalf("unexpected fields: %v", m)
	}
	if _, ok := m["caller"]; ok {
		t.Errorf("caller in the schema: %v", m)
	}
}

// format: text is text even when the output is not a terminal (a pipe,
// the journal): the same fields as JSON, in the console layout, no colour.
func TestTextWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Options{Level: "info", Format: "text", Out: &buf})
	if err != nil {
		t.Fatal(err)
	}
	l.Named("daemon").Warn("remote failing", zap.String("remote", "r0"))
	l.Sync()
	line := strings.TrimSpace(buf.String())
	if json.Valid([]byte(line)) || strings.Contains(line, "\x1b[") {
		t.Fatalf("want plain text, got %q", line)
	}
	f := strings.Split(line, "\t")
	if len(f) != 5 || f[1] != "WARN" || f[2] != "daemon" || f[3] != "remote failing" || f[4] != `{"remote": "r0"}` {
		t.Fatalf("text line %q: want time, level, logger, msg, fields", line)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z07:00", f[0]); err != nil {
		t.Errorf("time %q: %v", f[0], err)
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
