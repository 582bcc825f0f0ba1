package remotes

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/rclone/rclone/fs"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// rcloneLog receives rclone's own notices, warnings and errors; rclone's
// logger is process-wide, hence this is too. Nothing until Open is given a
// logger (Options.Log) or SetRcloneLogger is called.
var rcloneLog atomic.Pointer[zap.Logger]

// SetRcloneLogger sends rclone's notices and warnings (as warnings) and its
// errors (as errors) to l, never its info or debug chatter; nil silences
// them. rclone's logging is process-wide: the last logger set wins. Open
// calls it with Options.Log.
func SetRcloneLogger(l *zap.Logger) {
	setupRclone()
	if l != nil {
		l = l.Named("rclone")
	}
	rcloneLog.Store(l)
}

// listingKey marks the context of our own listings (rcloneRemote.list).
// rclone hands the caller's context to its logger (fs.ErrorfCtx passes it
// to slog's Handle), so an error logged under it is one the walker also
// returns to list: the context, not the message's wording, says so.
type listingKey struct{}

// listingContext marks ctx as a listing whose errors list returns.
func listingContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, listingKey{}, true)
}

func inListing(ctx context.Context) bool {
	v, _ := ctx.Value(listingKey{}).(bool)
	return v
}

// rcloneLogHandler is a slog.Handler that forwards rclone's records at
// notice and above to rcloneLog.
type rcloneLogHandler struct {
	attrs []slog.Attr
}

// noConfigNotice reports rclone's notice that rclone.conf is missing
// ("Config file %q not found - using defaults"), which it gives at every
// first use of a missing file, from outside any call of ours and so by
// its wording. It is nothing to warn of: a remote named from a missing
// file fails to open with an error naming that file, and one defined in
// the environment (RCLONE_CONFIG_NAME_TYPE) or a connection string needs
// no file.
func noConfigNotice(msg string) bool {
	return strings.HasPrefix(msg, "Config file ") && strings.HasSuffix(msg, " not found - using defaults")
}

// rcloneLevel maps rclone's slog levels to ours. rclone's NOTICE is what its
// own command line shows by default: in practice warnings ("Can't follow
// symlink", "Time may be set wrong"). ok is false for info and debug.
func rcloneLevel(l slog.Level) (level zapcore.Level, ok bool) {
	switch {
	case l >= slog.LevelError:
		return zapcore.ErrorLevel, true
	case l >= fs.SlogLevelNotice:
		return zapcore.WarnLevel, true
	}
	return zapcore.DebugLevel, false
}

func (h *rcloneLogHandler) Enabled(_ context.Context, level slog.Level) bool {
	_, ok := rcloneLevel(level)
	return ok && rcloneLog.Load() != nil
}

func (h *rcloneLogHandler) Handle(ctx context.Context, rec slog.Record) error {
	l := rcloneLog.Load()
	level, ok := rcloneLevel(rec.Level)
	if l == nil || !ok || (level >= zapcore.ErrorLevel && inListing(ctx)) || noConfigNotice(rec.Message) {
		// rclone's walker logs every listing error it also returns; list
		// returns it to the caller with context (and a missing directory
		// is an ordinary empty listing there), so logging it here too
		// would only repeat it, or cry wolf on every new repository.
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
	if ce := l.Check(level, rec.Message); ce != nil {
		ce.Write(fields...)
	}
	return nil
}

func (h *rcloneLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &rcloneLogHandler{attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *rcloneLogHandler) WithGroup(string) slog.Handler { return h }
