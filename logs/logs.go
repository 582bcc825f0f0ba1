// Package logs owns chatsafe's logger set-up: zap, JSON lines when the
// output is not a terminal (journald, files, pipes) and zap's console
// encoder on a terminal, a level that can be changed while running, and a
// last line of defence that redacts fields whose names say they hold a
// secret (keys, passwords, tokens).
package logs

import (
	"fmt"
	"io"
	"os"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

// Options configure New. Level and Format take the values of the config's
// log section.
type Options struct {
	// Level is debug, info, warn or error ("" = info).
	Level string
	// Format is "json" (always JSON lines) or "text" ("" too): zap's
	// console encoder on a terminal, JSON lines otherwise, so logs that a
	// service manager collects stay machine-readable.
	Format string
	// Out receives the log lines (nil = os.Stderr).
	Out io.Writer
}

// Logger is a zap logger with its adjustable level.
type Logger struct {
	*zap.Logger
	Level zap.AtomicLevel
}

// ParseLevel turns a level name into a zap level, with a message that
// lists the accepted names.
func ParseLevel(s string) (zapcore.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return zapcore.DebugLevel, nil
	case "", "info":
		return zapcore.InfoLevel, nil
	case "warn", "warning":
		return zapcore.WarnLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	}
	return zapcore.InfoLevel, fmt.Errorf("log level %q is not one of debug, info, warn, error", s)
}

// New builds the logger.
func New(opts Options) (*Logger, error) {
	lvl, err := ParseLevel(opts.Level)
	if err != nil {
		return nil, err
	}
	out := opts.Out
	if out == nil {
		out = os.Stderr
	}
	var enc zapcore.Encoder
	switch strings.ToLower(opts.Format) {
	case "json":
		enc = zapcore.NewJSONEncoder(jsonConfig())
	case "", "text":
		if isTerminal(out) {
			c := zap.NewDevelopmentEncoderConfig()
			c.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
			c.EncodeLevel = zapcore.CapitalColorLevelEncoder
			enc = zapcore.NewConsoleEncoder(c)
		} else {
			enc = zapcore.NewJSONEncoder(jsonConfig())
		}
	default:
		return nil, fmt.Errorf("log format %q is not one of text, json", opts.Format)
	}
	level := zap.NewAtomicLevelAt(lvl)
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(out)), level)
	return &Logger{Logger: zap.New(redactCore{core}), Level: level}, nil
}

func jsonConfig() zapcore.EncoderConfig {
	c := zap.NewProductionEncoderConfig()
	c.TimeKey = "time"
	c.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	c.EncodeDuration = zapcore.StringDurationEncoder
	return c
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}
