package remotes

import (
	"context"
	"log/slog"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// rcloneLog receives rclone's own warnings and errors; rclone's logger is
// process-wide, hence this is too. Nothing by default.
var rcloneLog atomic.Pointer[zap.Logger]

// SetRcloneLogger sends rclone's warnings and errors (never its info or debug
// chatter) to l; nil silences them. rclone's logging is process-wide.
func SetRcloneLogger(l *zap.Logger) {
	setupRclone()
	if l != nil {
		l = l.Named("rclone")
	}
	rcloneLog.Store(l)
}

// rcloneLogHandler is a slog.Handler that forwards rclone's records at warn
// and above to rcloneLog.
type rcloneLogHandler struct {
	attrs []slog.Attr
}

func (h *rcloneLogHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= slog.LevelWarn && rcloneLog.Load() != nil
}

func (h *rcloneLogHandler) Handle(_ context.Context, rec slog.Record) error {
	l := rcloneLog.Load()
	if l == nil || rec.Level < slog.LevelWarn {
		return nil
	}
	fields := make([]zap.Field, 0, rec.NumAttrs()+len(h.attrs))
	for _, a := range h.attrs {
		fields = append(fields, zap.Any(a.Key, a.Value.Any()))
	}
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "object" || a.Key == "objectType" {
			// rclone names the object a message is about; keep only its name.
			if a.Key == "object" {
				fields = append(fields, zap.String("object", a.Value.String()))
			}
			return true
		}
		fields = append(fields, zap.Any(a.Key, a.Value.Any()))
		return true
	})
	level := zapcore.WarnLevel
	if rec.Level >= slog.LevelError {
		level = zapcore.ErrorLevel
	}
	if ce := l.Check(level, rec.Message); ce != nil {
		ce.Write(fields...)
	}
	return nil
}

func (h *rcloneLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &rcloneLogHandler{attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *rcloneLogHandler) WithGroup(string) slog.Handler { return h }
