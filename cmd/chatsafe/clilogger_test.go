package main

import (
	"strings"
	"testing"

	"go.uber.org/zap"
)

// The one-shot commands' logger is the logs package's: a field named like
// a secret is redacted, info stays quiet, and the line has the logs
// schema (time, level, logger, message, fields).
func TestCLILoggerRedactsSecrets(t *testing.T) {
	var buf strings.Builder
	l := cliLogger(&buf)
	l.Named("vault").Warn("login failed", zap.String("password", "hunter2-secret"), zap.String("remote", "r0"))
	l.Info("chatter")
	l.Sync()
	out := buf.String()
	if strings.Contains(out, "hunter2-secret") {
		t.Fatalf("the CLI logger wrote a secret field: %q", out)
	}
	if !strings.Contains(out, "[redacted]") || !strings.Contains(out, `"remote": "r0"`) {
		t.Fatalf("the CLI logger's line %q lacks the redaction marker or the plain field", out)
	}
	if strings.Contains(out, "chatter") {
		t.Fatalf("the CLI logger printed info: %q", out)
	}
	if f := strings.Split(strings.TrimSpace(out), "\t"); len(f) != 5 || f[1] != "WARN" || f[2] != "vault" {
		t.Fatalf("line %q: want time, level, logger, msg, fields", out)
	}
}
