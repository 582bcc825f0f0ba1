package logs

import (
	"strings"

	"go.uber.org/zap/zapcore"
)

// Redacted replaces the value of a field that looks like a secret.
const Redacted = "[redacted]"

// secretWords are field-name fragments that mark a secret. Code must not
// log secrets at all; this catches the mistake before it reaches a disk.
var secretWords = []string{"password", "passwd", "secret", "token", "recovery", "credential", "private", "apikey", "api_key"}

// IsSecretField reports whether a field named key is redacted.
func IsSecretField(key string) bool {
	k := strings.ToLower(key)
	if k == "key" || strings.HasSuffix(k, "_key") || strings.HasSuffix(k, "key_hex") {
		return true
	}
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// redactCore rewrites secret-looking fields, including those attached
// with Logger.With.
type redactCore struct{ zapcore.Core }

func redact(fields []zapcore.Field) []zapcore.Field {
	var out []zapcore.Field
	for i, f := range fields {
		if !IsSecretField(f.Key) {
			if out != nil {
				out = append(out, f)
			}
			continue
		}
		if out == nil {
			out = append(make([]zapcore.Field, 0, len(fields)), fields[:i]...)
		}
		out = append(out, zapcore.Field{Key: f.Key, Type: zapcore.StringType, String: Redacted})
	}
	if out == nil {
		return fields
	}
	return out
}

func (c redactCore) With(fields []zapcore.Field) zapcore.Core {
	return redactCore{c.Core.With(redact(fields))}
}

func (c redactCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c redactCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	return c.Core.Write(e, redact(fields))
}
